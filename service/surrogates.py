"""Find JSON escapes of lone UTF-16 surrogates (`"\\ud800"`) in a request body, before anything parses it.

JSON may spell a character as a `\\uXXXX` escape, and a character above U+FFFF as a surrogate pair
(`\\ud83d\\ude00`). A high surrogate without its low half, or a low one alone, is not a character: Python's
`json` module turns it into a `str` that cannot be encoded (hashing, caching, logging or answering it
raises `UnicodeEncodeError` deep inside a route). Refusing such bodies at the door, once for every route,
keeps that failure out of all of them. Raw bytes need no check: invalid UTF-8 fails JSON decoding itself.

The scan is linear: `bytes.find` jumps from one `\\u` to the next, and each backslash run is counted once.
"""

from __future__ import annotations

__all__ = ["lone_surrogate"]

_BACKSLASH = 0x5C


def _code(body: bytes, at: int) -> int | None:
    digits = body[at : at + 4]
    if len(digits) != 4:
        return None
    try:
        return int(digits, 16)
    except ValueError:
        return None


def lone_surrogate(body: bytes) -> int | None:
    """Byte offset of the first `\\uD800`-`\\uDFFF` escape that is not half of a pair, or None."""
    pos = body.find(b"\\u")
    while pos >= 0:
        start = pos
        while start > 0 and body[start - 1] == _BACKSLASH:
            start -= 1
        if (pos - start) % 2 == 0:  # an even run of backslashes before it: this one starts an escape
            code = _code(body, pos + 2)
            if code is not None and 0xD800 <= code <= 0xDBFF:
                low = _code(body, pos + 8) if body[pos + 6 : pos + 8] == b"\\u" else None
                if low is None or not 0xDC00 <= low <= 0xDFFF:
                    return pos
                pos = body.find(b"\\u", pos + 12)
                continue
            if code is not None and 0xDC00 <= code <= 0xDFFF:
                return pos
        pos = body.find(b"\\u", pos + 2)
    return None
