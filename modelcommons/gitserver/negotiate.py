"""The have/want exchange of a fetch: what the client wants, what it has, and when
the hub has heard enough to send a pack.

Over HTTP every round is a request of its own (git's "stateless RPC"): the client
repeats its wants and the haves found in common so far, then adds new haves, and
ends with ``done`` when it has none left. Only commits the caller may fetch (those
the advertised refs reach) are ever wanted or acknowledged, so a have never tells
whether the hub holds a commit the caller may not see.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.schema import Commit, Repo
from ..errors import BadRequest, HubError
from . import pktline

_OID = re.compile(r"^[0-9a-f]{40}$")
#: A depth past any history: ``--deepen``/``--depth`` beyond it is the whole history.
MAX_DEPTH = 1 << 30


class ProtocolError(HubError):
    """Refused inside the protocol: answered as an ``ERR`` packet, which git prints."""

    status = 400
    code = "GitProtocolError"


def oid(value: str, what: str) -> str:
    if not _OID.match(value):
        raise BadRequest(f"Invalid object id in {what!r}.")
    return value


@dataclasses.dataclass
class Graph:
    """A repository's commits: parents and trees, and those the caller may fetch."""

    parents: dict[str, tuple[str, ...]]
    trees: dict[str, str]
    fetchable: set[str]

    @classmethod
    def load(cls, session: Session, repo: Repo, tips: Iterable[str]) -> Graph:
        rows = session.execute(
            select(Commit.oid, Commit.parents, Commit.tree_oid).where(Commit.repo_id == repo.id)
        )
        parents: dict[str, tuple[str, ...]] = {}
        trees: dict[str, str] = {}
        for commit, parent_ids, tree in rows:
            parents[commit] = tuple(parent_ids.split())
            trees[commit] = tree
        graph = cls(parents, trees, set())
        graph.fetchable = graph.ancestors(tips)
        return graph

    def ancestors(self, starts: Iterable[str], stop: Iterable[str] = ()) -> set[str]:
        """Commits reachable from ``starts``, not walking past the ``stop`` commits."""
        stops = set(stop)
        seen: set[str] = set()
        todo = [s for s in starts if s in self.parents]
        while todo:
            commit = todo.pop()
            if commit in seen:
                continue
            seen.add(commit)
            if commit not in stops:
                todo.extend(p for p in self.parents[commit] if p in self.parents)
        return seen


@dataclasses.dataclass
class FetchRequest:
    wants: list[str] = dataclasses.field(default_factory=list)
    haves: list[str] = dataclasses.field(default_factory=list)
    #: Whether the haves end with ``done`` (the client has no more to offer).
    done: bool = False
    #: Whether the request (v0) ends a round with a flush instead.
    capabilities: set[str] = dataclasses.field(default_factory=set)
    shallows: set[str] = dataclasses.field(default_factory=set)
    depth: int | None = None
    #: ``deepen-relative``: the depth counts from the client's shallow boundary.
    relative: bool = False

    def check(self, graph: Graph) -> None:
        if not self.wants:
            raise BadRequest("A fetch must want at least one commit.")
        for want in self.wants:
            if want not in graph.fetchable:
                raise ProtocolError(f"upload-pack: not our ref {want}")

    def common(self, graph: Graph) -> list[str]:
        return list(dict.fromkeys(h for h in self.haves if h in graph.fetchable))

    def ready(self, graph: Graph, common: list[str]) -> bool:
        """Whether every want reaches a commit the client has: git's "ok to give up"."""
        have = set(common)
        return bool(have) and all(graph.ancestors([w]) & have for w in self.wants)


def _argument(req: FetchRequest, text: str) -> bool:
    """Apply one of the arguments v0 and v2 share; False when it is not one."""
    word, _, value = text.partition(" ")
    if word == "shallow":
        req.shallows.add(oid(value, text))
    elif word == "deepen":
        if not value.isdigit() or int(value) < 1:
            raise BadRequest(f"Invalid depth in {text!r}.")
        req.depth = min(int(value), MAX_DEPTH)
    elif text == "deepen-relative":
        req.relative = True
    elif word in ("deepen-since", "deepen-not", "filter", "want-ref"):
        raise ProtocolError(f"upload-pack: {word} is not supported by this hub")
    else:
        return False
    return True


def parse_v0(packets: list[pktline.Packet]) -> FetchRequest:
    """wants (the first with capabilities), shallow and deepen lines, a flush, then
    haves ending with a flush (another round follows) or ``done``."""
    req = FetchRequest()
    it = iter(packets)
    for packet in it:
        if packet is pktline.FLUSH:
            break
        text = pktline.text(packet)
        if text.startswith("want "):
            value, *caps = text[5:].split(" ")
            req.wants.append(oid(value, text))
            if len(req.wants) == 1:
                req.capabilities.update(caps)
        elif not _argument(req, text):
            raise BadRequest(f"Unexpected line in an upload-pack request: {text[:80]!r}.")
    for packet in it:
        if packet is pktline.FLUSH:
            continue
        text = pktline.text(packet)
        if text == "done":
            req.done = True
            break
        if not text.startswith("have "):
            raise BadRequest(f"Unexpected line among haves: {text[:80]!r}.")
        req.haves.append(oid(text[5:], text))
    return req


#: v2 fetch arguments that change nothing for this hub's packs (no deltas, no
#: annotated tags, no progress messages).
_V2_FLAGS = frozenset({"thin-pack", "no-progress", "include-tag", "ofs-delta", "wait-for-done"})


def parse_v2(args: list[str]) -> FetchRequest:
    req = FetchRequest()
    for text in args:
        word, _, value = text.partition(" ")
        if word == "want":
            req.wants.append(oid(value, text))
        elif word == "have":
            req.haves.append(oid(value, text))
        elif text == "done":
            req.done = True
        elif text in _V2_FLAGS or _argument(req, text):
            continue
        elif word in ("sideband-all", "packfile-uris"):
            raise ProtocolError(f"upload-pack: {word} is not supported by this hub")
        else:
            raise BadRequest(f"Unknown fetch argument {text[:80]!r}.")
    return req


def acknowledge_v0(req: FetchRequest, graph: Graph) -> tuple[bytes, bool]:
    """The ACK/NAK lines for one v0 round, and whether a pack follows them.

    As git's upload-pack does over stateless HTTP, with ``multi_ack_detailed`` (what
    every current client asks for), plain ``multi_ack``, or neither.
    """
    detailed = "multi_ack_detailed" in req.capabilities
    multi = detailed or "multi_ack" in req.capabilities
    no_done = "no-done" in req.capabilities
    out = b""
    common: list[str] = []
    got_other = sent_ready = False
    for have in req.haves:
        if have in graph.fetchable:
            if have in common:
                continue
            common.append(have)
            if detailed:
                out += pktline.line(f"ACK {have} common")
            elif multi:
                out += pktline.line(f"ACK {have} continue")
            elif len(common) == 1:
                out += pktline.line(f"ACK {have}")
        else:
            got_other = True
            if multi and req.ready(graph, common):
                sent_ready = detailed
                out += pktline.line(f"ACK {have} {'ready' if detailed else 'continue'}")
    last = common[-1] if common else None
    if req.done:
        if last is not None:
            return out + (pktline.line(f"ACK {last}") if multi else b""), True
        return out + pktline.line("NAK"), True
    # The round ended with a flush.
    if detailed and common and not got_other and req.ready(graph, common):
        sent_ready = True
        out += pktline.line(f"ACK {last} ready")
    if not common or multi:
        out += pktline.line("NAK")
    if no_done and sent_ready:
        return out + pktline.line(f"ACK {last}"), True
    return out, False


def acknowledge_v2(req: FetchRequest, graph: Graph) -> tuple[bytes, bool]:
    """The v2 ``acknowledgments`` section (none after ``done``), and whether a pack
    follows it in this response."""
    if req.done:
        return b"", True
    common = req.common(graph)
    out = pktline.line("acknowledgments")
    if not common:
        return out + pktline.line("NAK") + pktline.flush(), False
    out += b"".join(pktline.line(f"ACK {c}") for c in common)
    if req.ready(graph, common):
        return out + pktline.line("ready") + pktline.delim(), True
    return out + pktline.flush(), False
