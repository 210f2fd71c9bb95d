"""Content-Length framing for the stdio and TCP transports: a byte stream in, message bodies out.

A message is a header block (`Name: value` lines, then an empty line) and a body of exactly
Content-Length bytes. Read as leniently as vscode-jsonrpc writes and reads it: header names in any
case, spaces and tabs around names and values, lines ending in `\\r\\n` or `\\n`, blank lines between
messages, and other headers (Content-Type) ignored.

What the reader does with a stream that is off:
  - a header block that is malformed in itself (a line that is no header inside it, or no
    Content-Length at all, e.g. a Content-Type alone) is skipped: the reader resyncs at the next
    `Content-Length:` in the stream (anywhere in a line, since a header follows the previous body
    without a line break) and logs one warning;
  - a length it cannot trust ends the stream with `FramingError`: a Content-Length that is not
    plain decimal digits (negative, a float, a sign, empty), one over `max_bytes`, or one proven
    wrong because the body is not followed by a header line (it was too short or too long), or is
    followed by a block without Content-Length that does not start with an LSP header (one byte too
    long leaves `ontent-Length: ...`, a header of no use, and resyncing would skip a request). The
    boundaries of the following messages are unknown then, and one of them may be a lost request:
    the caller ends the session and the editor restarts the server, rather than leaving a server
    that no longer answers.
It knows nothing of JSON-RPC: a body that is not JSON is the protocol's business.
"""

from __future__ import annotations

import asyncio
import re

from . import telemetry

DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # above any text document an editor syncs (VS Code: 50 MB)
MAX_HEADER_BYTES = 64 * 1024  # one header block (a line is bounded by the stream's limit, 64 KiB by default)

_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name (RFC 9110 token)
_CONTENT_LENGTH = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
_DIGITS = re.compile(rb"[0-9]+")
LSP_HEADERS = ("content-length", "content-type")


class FramingError(Exception):
    """The stream cannot be read any further (the message says why, in one line)."""


def _header(line: bytes) -> tuple[str, bytes] | None:
    """(lower-case name, value) of a header line, None if the line is no header."""
    name, colon, value = line.rstrip(b"\r\n").partition(b":")
    name = name.strip(b" \t")
    if not colon or not _TOKEN.fullmatch(name):
        return None
    return name.decode("ascii").lower(), value.strip(b" \t\r")


class MessageReader:
    """Bodies of the messages in `stream` (an `asyncio.StreamReader`), one `read()` at a time."""

    def __init__(self, stream: asyncio.StreamReader, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.stream, self.max_bytes = stream, max_bytes
        self._after_body = False  # the last thing read was a body: a header line must come next

    async def read(self) -> bytes | None:
        """The next body; None at the end of input. Raises `FramingError`."""
        length = await self._header_block()
        if length is None:
            return None
        try:
            body = await self.stream.readexactly(length)
        except asyncio.IncompleteReadError:
            return None  # the input ended inside a body
        self._after_body = True
        return body

    async def _line(self) -> bytes | None:
        try:
            return await self.stream.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            return exc.partial or None  # a last line without a line end, then the end
        except asyncio.LimitOverrunError:
            raise FramingError("a header line longer than the stream's limit") from None

    async def _header_block(self) -> int | None:
        """The Content-Length of the next header block, resyncing past malformed ones."""
        length, size, seen = None, 0, False  # seen: a header line of this block was read
        suspect = False  # the block follows a body and does not start with an LSP header
        while (line := await self._line()) is not None:
            size += len(line)
            if size > MAX_HEADER_BYTES:
                raise FramingError(f"a header block longer than {MAX_HEADER_BYTES} bytes")
            if not line.strip():
                if length is not None:
                    return length
                if not seen:
                    continue  # blank lines between messages
                if suspect:
                    raise FramingError("the message before was followed by no Content-Length "
                                       "(its Content-Length was wrong?)")
                line = await self._resync(None)  # no Content-Length: where the body ends is unknown
                if line is None:
                    return None
                size = 0
            header = _header(line)
            if header is None:
                if self._after_body and not seen:
                    raise FramingError(f"the message before was not followed by a header "
                                       f"(its Content-Length was wrong?): {line[:40]!r}")
                line = await self._resync(line)
                length, size = None, 0
                if line is None:
                    return None
                header = _header(line)
            name, value = header
            suspect = suspect or (self._after_body and not seen and name not in LSP_HEADERS)
            self._after_body, seen = False, True
            if name == "content-length":
                length = self._length(value)
        return None

    def _length(self, value: bytes) -> int:
        if not _DIGITS.fullmatch(value):
            raise FramingError(f"Content-Length is not a length: {value[:40]!r}")
        if len(value) > 20 or int(value) > self.max_bytes:
            raise FramingError(f"Content-Length {value[:40].decode()} is over the limit of {self.max_bytes} bytes")
        return int(value)

    async def _resync(self, line: bytes | None) -> bytes | None:
        """From `line` on, skip to the next `Content-Length:`; returns the line from there."""
        skipped = 0
        while line is None or (found := _CONTENT_LENGTH.search(line)) is None:
            skipped += len(line or b"")
            if skipped > self.max_bytes:
                raise FramingError(f"no Content-Length header in {skipped} bytes")
            if (line := await self._line()) is None:
                return None
        telemetry.get().warning("framing.resync", skipped_bytes=skipped + found.start())
        return line[found.start():]
