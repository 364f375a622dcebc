"""Base64 the way Judge0 (Ruby) does it: lenient line breaks in, Base64.encode64 out.

Judge0 decodes inputs with Ruby's Base64.decode64 and encodes outputs with Base64.encode64,
which breaks the text into lines of 60 characters, each ending with a newline. Ruby's
decoder silently skips characters that are not base64; ours refuses them, so that a client
sending plain text with base64_encoded=true gets a 422 instead of a garbled program.
"""

from __future__ import annotations

import base64
import binascii
import re

#: Characters per line of Ruby's Base64.encode64 output.
LINE_CHARS = 60

_WHITESPACE = re.compile(r"\s+")


class Base64Error(ValueError):
    """Text that is not base64, or whose bytes are not UTF-8."""


def encode64(text: str) -> str:
    """Ruby's Base64.encode64 of the text's UTF-8 bytes: lines of 60 characters, each
    followed by a newline; the empty string stays empty."""
    raw = base64.b64encode(text.encode()).decode("ascii")
    return "".join(raw[i : i + LINE_CHARS] + "\n" for i in range(0, len(raw), LINE_CHARS))


def decode64(text: str) -> str:
    """The text a client sent base64-encoded.

    Line breaks and other whitespace are ignored (encode64's own output decodes) and the
    trailing padding may be left out, as Ruby allows.

    Raises:
        Base64Error: a character outside the base64 alphabet, a wrong length, or bytes
            that are not UTF-8 (programs and their input are text here).
    """
    compact = _WHITESPACE.sub("", text)
    if len(compact) % 4 == 1:
        raise Base64Error("is not valid base64 (wrong length)")
    compact += "=" * (-len(compact) % 4)
    if not compact.isascii():  # b64decode would raise a plain ValueError for these
        raise Base64Error("is not valid base64 (a character outside the base64 alphabet)")
    try:
        raw = base64.b64decode(compact, validate=True)
    except binascii.Error as e:
        raise Base64Error(f"is not valid base64 ({e})") from e
    try:
        return raw.decode()
    except UnicodeDecodeError as e:
        raise Base64Error("is base64 of bytes that are not UTF-8 text") from e
