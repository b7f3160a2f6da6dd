"""Request bodies whose size is n, generated as they are sent and never held whole.

Three forms, each with a Content-Length known before the first byte goes out:

- raw (`--body-bytes`): n bytes, `application/octet-stream`;
- upload (`--upload FIELD`): `multipart/form-data` with one file of n bytes in FIELD;
- batch (`{n*ITEM}` in a `--json` template): a JSON array of n copies of ITEM, e.g.
  `{"instances": {n*[5.1, 3.5, 1.4, 0.2]}}`;
- content from a template (`--content`, as the raw body or an upload's file): the text
  before `{n*PIECE}`, PIECE n times, the text after, e.g. a CSV header and n rows,
  `a,b,c\\n{n*1.5,2.5,3.5\\n}` (`\\n`, `\\t`, `\\r` and `\\\\` are unescaped, as a shell's
  single quotes keep them).

JSON is written as a client writes it (`SEPARATORS`): by default as `json.dumps` does,
and so `requests.post(json=...)` and httpx, with `, ` and `: `; `compact` as JavaScript's
`JSON.stringify` and orjson do. A server holds the body in memory, so the two forms of
one batch have different boundaries (3.4 % apart at 256M for rows of four floats).

The bytes are the ASCII letter `x`, so a person sends the same body with
`head -c N /dev/zero | tr '\\0' x | curl --data-binary @- ...` (what an app does with
the bytes can depend on them: a JSON echo writes a NUL byte as six characters).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from probe.errors import UsageProblem

FILL = b"x"
CHUNK = 1 << 16  # bytes per write: big enough to be cheap, small enough to stay flat
BOUNDARY = "probe-boundary-7f3a9c1e"
BATCH_OPEN = "{n*"

# How a JSON body is written: (item separator, key separator), as json.dumps takes them.
SEPARATORS = {"spaced": (", ", ": "), "compact": (",", ":")}
DEFAULT_SEPARATORS = "spaced"
_SLOT = '"probe-batch-slot-7f3a9c1e"'  # stands for the array while the rest is rewritten


class BodyError(UsageProblem, ValueError):
    """A body template that cannot be generated; the message says how to fix it."""


class Body:
    """A body of known length, produced chunk by chunk: `len(body)`, `iter(body)`.

    requests and http.client send an iterable with a length as a stream with that
    Content-Length."""

    def __init__(self, parts: list, content_type: str):
        # (piece, times): the body is each piece repeated, in order; or a body a user's
        # function made (probe.workload.bodyfn.Made), streamed from its spool
        self.parts = parts
        self.content_type = content_type
        self.length = sum(p.length if hasattr(p, "chunks") else len(p[0]) * p[1] for p in parts)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        for part in self.parts:
            if hasattr(part, "chunks"):
                yield from part.chunks()
                continue
            piece, times = part
            if not piece or times <= 0:
                continue
            per = max(1, CHUNK // len(piece))  # whole pieces per chunk
            block = piece * min(per, times)
            left = times
            while left >= per:
                yield block
                left -= per
            if left:
                yield piece * left

    def head(self, limit: int = 200) -> bytes:
        """The body's first bytes, for messages."""
        out = b""
        for chunk in self:
            out += chunk
            if len(out) >= limit:
                break
        return out[:limit]


def raw(n: int, content: str | None = None, content_type: str | None = None,
        made=None) -> Body:  # fmt: skip
    """n bytes of FILL, or the `content` template with its piece n times, or what a
    user's function `made` (probe.workload.bodyfn)."""
    parts = [made] if made is not None else _content(n, content)
    return Body(parts, content_type or "application/octet-stream")


def _content(n: int, content: str | None) -> list[tuple[bytes, int]]:
    return [(FILL, n)] if content is None else repeated(content, n)


def upload(field: str, n: int, filename: str | None = None, content: str | None = None,
           content_type: str | None = None, made=None) -> Body:  # fmt: skip
    """multipart/form-data with one file in `field` (RFC 7578): n bytes of FILL, or the
    `content` template with its piece n times, or what a user's function `made`."""
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{field}"; '
        f'filename="{filename or "upload.bin"}"\r\n'
        f"Content-Type: {content_type or 'application/octet-stream'}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    parts = [made] if made is not None else _content(n, content)
    return Body([(head, 1), *parts, (tail, 1)], f"multipart/form-data; boundary={BOUNDARY}")


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def unescape(text: str) -> str:
    r"""`\n`, `\t`, `\r`, `\\` as the characters they name; any other backslash kept."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPES:
            out.append(_ESCAPES[text[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def split_repeat(template: str) -> tuple[str, str, str]:
    """(before, PIECE, after) of the one `{n*PIECE}` in a content template, unescaped;
    PIECE ends at the `}` that closes `{n*` (braces inside it counted)."""
    start = template.find(BATCH_OPEN)
    if start < 0:
        raise BodyError(f"a content template repeats one piece n times: put {{n*PIECE}} in "
                        f"{template!r}, e.g. 'a,b\\n{{n*1.5,2.5\\n}}'")  # fmt: skip
    depth = 0
    for i in range(start + len(BATCH_OPEN), len(template)):
        c = template[i]
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                piece, rest = template[start + len(BATCH_OPEN) : i], template[i + 1 :]
                if BATCH_OPEN in rest:
                    raise BodyError("one {n*PIECE} per template: a body has one size")
                if not piece:
                    raise BodyError("{n*} repeats nothing: write the piece, e.g. {n*1,2\\n}")
                return unescape(template[:start]), unescape(piece), unescape(rest)
            depth -= 1
    raise BodyError(f"{{n*PIECE}} is not closed in {template!r}")


def repeated(template: str, n: int) -> list[tuple[bytes, int]]:
    """The parts of a content template at n: before once, the piece n times, after once."""
    before, piece, after = split_repeat(template)
    return [(before.encode(), 1), (piece.encode(), n), (after.encode(), 1)]


def split_batch(template: str) -> tuple[str, str, str] | None:
    """(before, ITEM, after) of the one `{n*ITEM}` in a JSON template, or None.

    ITEM ends at the `}` that closes `{n*` (brackets, braces and strings in ITEM
    counted), so it may itself be an object: `{n*{"x": 1}}`."""
    start = template.find(BATCH_OPEN)
    if start < 0:
        return None
    i, depth, in_string = start + len(BATCH_OPEN), 0, False
    while i < len(template):
        c = template[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
        elif c in "]}":
            if depth == 0:
                if c != "}":
                    break
                item = template[start + len(BATCH_OPEN) : i]
                rest = template[i + 1 :]
                if BATCH_OPEN in rest:
                    raise BodyError("one {n*ITEM} per template: a batch has one size")
                return template[:start], item, rest
            depth -= 1
        i += 1
    raise BodyError(f"{{n*ITEM}} is not closed in {template!r}; write e.g. {{n*[1, 2]}}")


def check_item(item: str) -> None:
    """ITEM must be one JSON value, written out (no placeholders in it)."""
    try:
        json.loads(item)
    except ValueError as exc:
        raise BodyError(
            f"the item of {{n*ITEM}} must be one JSON value, e.g. {{n*[5.1, 3.5]}}; got "
            f"{item!r} ({exc})"
        ) from None


def dumps(text: str, separators: str = DEFAULT_SEPARATORS) -> str:
    """One JSON document rewritten as a client writes it (ValueError if it is not JSON)."""
    return json.dumps(json.loads(text), separators=SEPARATORS[separators])


def batch(before: str, item: str, after: str, n: int,
          separators: str = DEFAULT_SEPARATORS) -> Body:  # fmt: skip
    """`before` [ITEM, ITEM, ... n times] `after`, written as `json.dumps` writes the whole
    document with these separators (n = 0: an empty array)."""
    comma = SEPARATORS[separators][0].encode()
    piece = dumps(item, separators).encode()
    head, found, tail = dumps(before + _SLOT + after, separators).partition(_SLOT)
    if not found:  # pragma: no cover - the slot is a string, and strings are kept
        raise BodyError(f"cannot place the batch in {before + after!r}")
    if n == 0:
        parts = [(head.encode() + b"[]" + tail.encode(), 1)]
    else:
        parts = [(head.encode() + b"[" + piece, 1), (comma + piece, n - 1),
                 (b"]" + tail.encode(), 1)]  # fmt: skip
    return Body(parts, "application/json")
