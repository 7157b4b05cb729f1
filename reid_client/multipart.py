"""A multipart/form-data body streamed from disk, its length known before the first byte is sent.

Videos of a few hundred MB must not be read into memory to be uploaded, and a known Content-Length
lets the server's body limit refuse an oversized upload at once (instead of after a chunked stream).
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

BLOCK = 256 * 1024


@dataclass(frozen=True)
class FilePart:
    field: str
    path: Path


class MultipartBody:
    """Fields and files as one iterable body; `on_sent(bytes_so_far, total)` is called as it goes."""

    def __init__(
        self,
        fields: dict[str, str],
        files: list[FilePart],
        on_sent: Callable[[int, int], None] | None = None,
    ) -> None:
        self.boundary = f"reid-{uuid.uuid4().hex}"
        self._fields = fields
        self._files = files
        self.on_sent = on_sent  # settable later: a progress bar needs `length` first
        self.length = sum(len(head) for head in self._heads()) + sum(p.path.stat().st_size for p in files)
        self.length += len(self._tail())

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _field_head(self, name: str, value: str) -> bytes:
        return (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n{value}\r\n'
        ).encode()

    def _file_head(self, part: FilePart) -> bytes:
        kind = mimetypes.guess_type(part.path.name)[0] or "application/octet-stream"
        return (
            f"--{self.boundary}\r\nContent-Disposition: form-data; "
            f'name="{_quote(part.field)}"; filename="{_quote(part.path.name)}"\r\n'
            f"Content-Type: {kind}\r\n\r\n"
        ).encode()

    def _heads(self) -> Iterator[bytes]:
        for name, value in self._fields.items():
            yield self._field_head(name, value)
        for part in self._files:
            yield self._file_head(part) + b"\r\n"  # the CRLF closing the file's content, counted here

    def _tail(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode()

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        for name, value in self._fields.items():
            head = self._field_head(name, value)
            sent += len(head)
            yield head
        for part in self._files:
            head = self._file_head(part)
            sent += len(head)
            yield head
            with part.path.open("rb") as stream:
                while block := stream.read(BLOCK):
                    sent += len(block)
                    yield block
                    if self.on_sent is not None:
                        self.on_sent(sent, self.length)
            sent += 2
            yield b"\r\n"
        tail = self._tail()
        sent += len(tail)
        yield tail
        if self.on_sent is not None:
            self.on_sent(sent, self.length)


def _quote(text: str) -> str:
    """A header parameter value: quotes, backslashes and line breaks escaped as browsers do."""
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
