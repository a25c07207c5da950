"""pkt-line framing, git's wire format: a 4-hex-digit length, then the data.

``0000`` (flush), ``0001`` (delim) and ``0002`` (response end) are special packets.
Encoding uses dulwich's ``pkt_line``; reading checks every length, since the
bytes come from the network.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Iterator

from dulwich.protocol import pkt_line

from ..errors import BadRequest

#: The most data one packet carries (65520 bytes in all, less the length).
MAX_DATA = 65516
#: The most pack data one side-band packet carries (less the band byte).
MAX_BAND_DATA = MAX_DATA - 1


class Special(enum.Enum):
    FLUSH = b"0000"
    DELIM = b"0001"
    END = b"0002"


FLUSH = Special.FLUSH
DELIM = Special.DELIM
Packet = bytes | Special


def line(text: str | bytes) -> bytes:
    """One packet holding ``text`` (a newline is added when it has none)."""
    data = text.encode() if isinstance(text, str) else text
    if not data.endswith(b"\n"):
        data += b"\n"
    return pkt_line(data)


def flush() -> bytes:
    return FLUSH.value


def delim() -> bytes:
    return DELIM.value


def band(channel: int, data: bytes, size: int = MAX_BAND_DATA) -> Iterator[bytes]:
    """``data`` on a side-band channel (1 pack data, 2 progress, 3 error)."""
    prefix = bytes([channel])
    for start in range(0, len(data), size):
        yield pkt_line(prefix + data[start : start + size])


def _length(head: bytes) -> int:
    try:
        length = int(head.decode("ascii"), 16)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"Malformed pkt-line length {head!r}.") from exc
    if not head.isalnum() or (3 <= length < 4) or length > MAX_DATA + 4:
        raise BadRequest(f"Malformed pkt-line length {head!r}.")
    return length


def _special(length: int) -> Special | None:
    return {0: FLUSH, 1: DELIM, 2: Special.END}.get(length)


def parse(data: bytes) -> list[Packet]:
    """Every packet of a complete request body."""
    out: list[Packet] = []
    pos = 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise BadRequest("The request ends inside a pkt-line length.")
        length = _length(data[pos : pos + 4])
        special = _special(length)
        if special is not None:
            out.append(special)
            pos += 4
            continue
        if pos + length > len(data):
            raise BadRequest("The request ends inside a pkt-line.")
        out.append(data[pos + 4 : pos + length])
        pos += length
    return out


def text(packet: Packet) -> str:
    """A data packet as text without its newline; specials are refused."""
    if isinstance(packet, Special):
        raise BadRequest(f"Unexpected {packet.name.lower()} packet.")
    try:
        return packet.decode("utf-8").removesuffix("\n")
    except UnicodeDecodeError as exc:
        raise BadRequest("A pkt-line is not UTF-8.") from exc


class StreamReader:
    """Packets read from a request body as it arrives, then the bytes after them."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self.consumed = 0

    async def _fill(self, size: int) -> bool:
        while len(self._buffer) < size:
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                return False
            self._buffer += chunk
        return True

    async def packet(self) -> Packet | None:
        """The next packet, or None at the end of the body."""
        if not await self._fill(4):
            if self._buffer:
                raise BadRequest("The request ends inside a pkt-line length.")
            return None
        length = _length(bytes(self._buffer[:4]))
        special = _special(length)
        if special is not None:
            del self._buffer[:4]
            self.consumed += 4
            return special
        if not await self._fill(length):
            raise BadRequest("The request ends inside a pkt-line.")
        data = bytes(self._buffer[4:length])
        del self._buffer[:length]
        self.consumed += length
        return data

    async def rest(self) -> AsyncIterator[bytes]:
        """The bytes after the packets read so far, as they arrive."""
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            yield data
        async for chunk in self._chunks:
            yield chunk
