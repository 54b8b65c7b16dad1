"""Docker's multiplexed stdio stream: 8-byte headers [stream, 0, 0, 0, size] + payload."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

STDIN, STDOUT, STDERR, SYSTEM = 0, 1, 2, 3


class Demuxer:
    """Incremental demultiplexer: feed bytes, get (stream, payload) frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        frames = []
        while len(self._buf) >= 8:
            stream, size = struct.unpack(">BxxxL", self._buf[:8])
            if len(self._buf) < 8 + size:
                break
            frames.append((stream, bytes(self._buf[8 : 8 + size])))
            del self._buf[: 8 + size]
        return frames

    @property
    def pending(self) -> int:
        return len(self._buf)


def demux(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Frames from a stream of byte chunks."""
    d = Demuxer()
    for chunk in chunks:
        yield from d.feed(chunk)


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data
