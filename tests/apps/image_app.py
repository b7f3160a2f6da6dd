"""A Flask app that resizes an uploaded image with Pillow, as a thumbnail service does.

Unlike the other apps here: n is the side of an n x n image in a multipart upload
(`POST /resize`, field `image`); decoding it holds n x n x 3 bytes, which is what grows.
It answers ``resized WxH from NxN``; a file Pillow cannot read is a 422; a MemoryError
escapes (a bare 500).

    cd tests/apps && gunicorn --bind 127.0.0.1:0 image_app:app
"""

from __future__ import annotations

from flask import Flask, request
from PIL import Image, UnidentifiedImageError

app = Flask(__name__)
Image.MAX_IMAGE_PIXELS = None  # the cap decides how large, not Pillow's bomb guard


@app.post("/resize")
def resize():
    upload = request.files.get("image")
    if upload is None:
        return "send an image in form field 'image'\n", 400
    try:
        img = Image.open(upload.stream)
        img.load()  # the decode that is measured; MemoryError escapes
    except UnidentifiedImageError as exc:
        return f"not an image: {exc}\n", 422
    small = img.resize((64, 64))
    return f"resized {small.width}x{small.height} from {img.width}x{img.height}\n"
