"""upload-pack over HTTP: answering ``ls-refs`` and ``fetch`` (protocol version 2)
and the version 0 exchange, with a pack when the negotiation is over."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

from dulwich.protocol import pkt_line
from sqlalchemy.orm import Session

from ..db.schema import Repo
from ..errors import BadRequest
from ..storage.blobs import BlobStore
from ..storage.trees import TreeReader
from . import negotiate, packout, pktline
from .advertise import RefView, ls_refs

if TYPE_CHECKING:
    from ..hub import Hub

#: Bytes of pack data per packet: side-band-64k's and side-band's.
_BANDS = {"side-band-64k": pktline.MAX_BAND_DATA, "side-band": 995}


@dataclasses.dataclass
class Reply:
    """An answer: packets, then a pack (framed in ``band``-sized side-band packets, or
    raw when ``band`` is 0), then closing packets."""

    head: bytes
    pack: packout.PackPlan | None = None
    band: int = 0
    tail: bytes = b""


def _shallow_lines(depth: packout.Depth | None) -> bytes:
    if depth is None:
        return b""
    lines = [f"shallow {c}" for c in depth.shallow] + [f"unshallow {c}" for c in depth.unshallow]
    return b"".join(pktline.line(text) for text in lines)


def respond(
    session: Session, hub: Hub, repo: Repo, view: RefView, body: bytes, version: int
) -> Reply:
    packets = pktline.parse(body)
    graph = negotiate.Graph.load(session, repo, view.tips)
    reader = TreeReader(session, hub.tree_cache)
    if version == 2:
        return _v2(packets, view, graph, reader, hub.blobs)
    req = negotiate.parse_v0(packets)
    req.check(graph)
    head = b""
    if req.depth is not None or req.shallows:
        head = _shallow_lines(packout.depth_of(graph, req)) + pktline.flush()
    acks, send = negotiate.acknowledge_v0(req, graph)
    head += acks
    if not send:
        return Reply(head)
    pack = packout.plan(reader, graph, req, req.common(graph))
    packout.check_available(session, hub.blobs, pack)
    band = next((size for cap, size in _BANDS.items() if cap in req.capabilities), 0)
    return Reply(head, pack, band, pktline.flush() if band else b"")


def _v2(
    packets: list[pktline.Packet],
    view: RefView,
    graph: negotiate.Graph,
    reader: TreeReader,
    blobs: BlobStore,
) -> Reply:
    command, args, section = "", [], "capabilities"
    for packet in packets:
        if packet is pktline.DELIM:
            section = "arguments"
        elif packet is pktline.FLUSH:
            break
        elif section == "arguments":
            args.append(pktline.text(packet))
        elif (text := pktline.text(packet)).startswith("command="):
            command = text.removeprefix("command=")
        elif text.startswith("object-format=") and text != "object-format=sha1":
            raise BadRequest("This hub stores sha1 objects only.")
    if command == "ls-refs":
        return Reply(ls_refs(view, args))
    if command != "fetch":
        raise BadRequest(f"Unknown protocol version 2 command {command[:40]!r}.")
    req = negotiate.parse_v2(args)
    req.check(graph)
    head, send = negotiate.acknowledge_v2(req, graph)
    if not send:
        return Reply(head)
    pack = packout.plan(reader, graph, req, req.common(graph))
    packout.check_available(reader.session, blobs, pack)
    if req.depth is not None or req.shallows:
        depth = packout.Depth({}, pack.shallow, pack.unshallow)
        head += pktline.line("shallow-info") + _shallow_lines(depth) + pktline.delim()
    head += pktline.line("packfile")
    return Reply(head, pack, pktline.MAX_BAND_DATA, pktline.flush())


def error(message: str) -> bytes:
    """An ``ERR`` packet: git stops and prints ``remote error: <message>``."""
    return pkt_line(f"ERR {message}\n".encode())


def stream(hub: Hub, reply: Reply) -> Iterator[bytes]:
    """The response body: blocking reads, for a worker thread."""
    yield reply.head
    if reply.pack is not None:
        with hub.db.read() as session:
            data = iter(packout.PackWriter(session, hub.blobs, reply.pack))
            if reply.band:
                yield from _framed(data, reply.band)
            else:
                yield from data
    yield reply.tail


def _framed(chunks: Iterator[bytes], size: int) -> Iterator[bytes]:
    """Pack bytes in full side-band packets, several per write."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if len(buffer) >= 4 * size:
            cut = len(buffer) - len(buffer) % size
            yield b"".join(pktline.band(1, bytes(buffer[:cut]), size))
            del buffer[:cut]
    if buffer:
        yield b"".join(pktline.band(1, bytes(buffer), size))
