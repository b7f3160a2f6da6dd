"""Body functions for `probe max-n --body-fn bodies:NAME`: real inputs made at size n.

They run in probe's body builder (a child process under its own cap), never in the
server; most yield their bytes a piece at a time, so that memory stays small whatever
n is.

- ``png(n)``: a PNG image of n x n black RGB pixels, written row by row with zlib
  (the PNG format: signature, IHDR, IDAT chunks, IEND), as (chunks, type, file name);
- ``png_held(n)``: the same image made with Pillow and saved to memory, as a user's
  first try reads (``Image.new`` holds n x n x 3 bytes at once);
- ``csv_rows(n)``: a CSV header and n rows of three floats, as (chunks, type, name).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

IDAT_BYTES = 1 << 16  # compressed bytes per IDAT chunk


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png_chunks(n: int) -> Iterator[bytes]:
    yield b"\x89PNG\r\n\x1a\n"
    yield _chunk(b"IHDR", struct.pack(">IIBBBBB", n, n, 8, 2, 0, 0, 0))  # 8-bit RGB
    packer, pending = zlib.compressobj(6), b""
    row = b"\x00" + b"\x00" * (3 * n)  # filter type 0, then n black pixels
    for _ in range(n):
        pending += packer.compress(row)
        if len(pending) >= IDAT_BYTES:
            yield _chunk(b"IDAT", pending)
            pending = b""
    pending += packer.flush()
    yield _chunk(b"IDAT", pending)
    yield _chunk(b"IEND", b"")


def png(n: int):
    """An n x n PNG, streamed."""
    return _png_chunks(n), "image/png", "image.png"


def png_held(n: int):
    """An n x n black PNG made by Pillow, held whole in memory."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (n, n)).save(out, "PNG")
    return out.getvalue(), "image/png", "image.png"


def _csv_chunks(n: int) -> Iterator[bytes]:
    yield b"a,b,c\n"
    block = b"1.5,2.5,3.5\n" * 4096
    full, rest = divmod(n, 4096)
    for _ in range(full):
        yield block
    yield b"1.5,2.5,3.5\n" * rest


def csv_rows(n: int):
    """A CSV header and n rows, streamed."""
    return _csv_chunks(n), "text/csv", "data.csv"
