"""The refs a caller is shown, and the capabilities the hub announces.

Fetching shows only the refs the caller may see (``RepoContent.visible_refs``: a
branch a staged release keeps closed is not advertised, and so is not fetched);
pushing is for writers, who see every ref. ``HEAD`` is ``main`` when it is shown.
Tags are lightweight (a name for a commit), so there is nothing to peel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from dulwich.protocol import pkt_line

from ..db.schema import Ref
from ..storage.repos import DEFAULT_BRANCH, full_ref
from . import pktline

AGENT = "agent=modelcommons/1"
ZERO_ID = "0" * 40
HEAD_REF = f"refs/heads/{DEFAULT_BRANCH}"
UPLOAD_PACK = "git-upload-pack"
RECEIVE_PACK = "git-receive-pack"

#: What upload-pack (fetching) does in protocol version 0.
UPLOAD_CAPABILITIES = (
    "multi_ack_detailed",
    "no-done",
    "side-band-64k",
    "side-band",
    "ofs-delta",
    "shallow",
    "no-progress",
    "include-tag",
    "allow-tip-sha1-in-want",
    "allow-reachable-sha1-in-want",
    "object-format=sha1",
    AGENT,
)
#: What receive-pack (pushing) does. ``no-thin``: a pushed pack holds every object
#: it needs apart from what the repository has, never deltas against those.
RECEIVE_CAPABILITIES = (
    "report-status",
    "delete-refs",
    "side-band-64k",
    "quiet",
    "atomic",
    "ofs-delta",
    "no-thin",
    "object-format=sha1",
    AGENT,
)


def ref_name(ref: Ref) -> str:
    return full_ref(ref.kind, ref.name)


@dataclasses.dataclass(frozen=True)
class RefView:
    """Refs as git names them, sorted, with ``HEAD``'s target when it is shown."""

    refs: tuple[tuple[str, str], ...]
    head: str | None

    @classmethod
    def of(cls, refs: Iterable[Ref]) -> RefView:
        items = tuple(sorted((ref_name(r), r.target) for r in refs))
        head = next((oid for name, oid in items if name == HEAD_REF), None)
        return cls(items, head)

    def with_head(self) -> list[tuple[str, str]]:
        return ([("HEAD", self.head)] if self.head else []) + list(self.refs)

    @property
    def tips(self) -> list[str]:
        return [oid for _, oid in self.refs]


def v0_advertisement(service: str, view: RefView) -> bytes:
    """The version 0 answer to ``info/refs?service=...``."""
    if service == UPLOAD_PACK:
        caps = [*UPLOAD_CAPABILITIES]
        if view.head:
            caps.append(f"symref=HEAD:{HEAD_REF}")
        entries = view.with_head()
    else:
        caps, entries = list(RECEIVE_CAPABILITIES), list(view.refs)
    out = pktline.line(f"# service={service}") + pktline.flush()
    if not entries:
        entries = [("capabilities^{}", ZERO_ID)]
    for i, (name, oid) in enumerate(entries):
        suffix = "\0" + " ".join(caps) if i == 0 else ""
        out += pkt_line(f"{oid} {name}{suffix}\n".encode())
    return out + pktline.flush()


def v2_capabilities() -> bytes:
    """The version 2 answer to ``info/refs?service=git-upload-pack``."""
    lines = ["version 2", AGENT, "ls-refs", "fetch=shallow", "server-option"]
    lines.append("object-format=sha1")
    return b"".join(pktline.line(text) for text in lines) + pktline.flush()


def ls_refs(view: RefView, args: list[str]) -> bytes:
    """The answer to a version 2 ``ls-refs`` command."""
    prefixes = [a.removeprefix("ref-prefix ") for a in args if a.startswith("ref-prefix ")]
    out = b""
    for name, oid in view.with_head():
        if prefixes and not any(name.startswith(p) for p in prefixes):
            continue
        extra = f" symref-target:{HEAD_REF}" if name == "HEAD" and "symrefs" in args else ""
        out += pktline.line(f"{oid} {name}{extra}")
    return out + pktline.flush()
