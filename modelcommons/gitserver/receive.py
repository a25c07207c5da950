"""receive-pack over HTTP: a push's commands and pack in, its report out.

The request is read as it arrives: the commands (pkt-lines), then the pack,
spooled to an unlinked temporary file in the data dir (never held in memory, and
gone if the process dies). Then, on a worker thread, the pack is read and checked
(:mod:`.packin`), the commands against the hub's rules and the objects against the
repository (:mod:`.checks`), and the refs moved together (:mod:`.pushes`). Every
refusal after the commands were read is reported the way git shows it
(``! [remote rejected] main -> main (reason)``), for every ref, since a push is
atomic: all refs move or none.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import re
import tempfile
from collections.abc import AsyncIterator
from typing import IO, TYPE_CHECKING

import anyio.to_thread

from ..accounts import Principal
from ..db.schema import Repo
from ..errors import BadRequest, HubError, PayloadTooLarge, header_value
from ..storage import repos
from ..validation.names import check_ref_name
from . import checks, packin, pktline, pushes
from .advertise import ref_name
from .pushes import ZERO_ID, Update

if TYPE_CHECKING:
    from ..hub import Hub

_OID = re.compile(r"^[0-9a-f]{40}$")
_PR = re.compile(r"^refs/pr/[1-9][0-9]{0,9}$")
MAX_COMMANDS = 10_000
_WRITE = 1024 * 1024


@dataclasses.dataclass
class Report:
    """report-status: the unpack result, then one line per ref."""

    unpack: str = "ok"
    refused: dict[str, str] = dataclasses.field(default_factory=dict)
    messages: list[str] = dataclasses.field(default_factory=list)

    def encode(self, updates: list[Update], capabilities: set[str]) -> bytes:
        if "report-status" not in capabilities:
            return b""  # the client did not ask (every git since 2005 does)
        lines = [f"unpack {_one_line(self.unpack)}"]
        for update in updates:
            reason = self.refused.get(update.ref)
            lines.append(f"ng {update.ref} {_one_line(reason)}" if reason else f"ok {update.ref}")
        body = b"".join(pktline.line(text) for text in lines) + pktline.flush()
        if "side-band-64k" not in capabilities:
            return body
        out = b""
        if "quiet" not in capabilities:
            for message in self.messages:
                out += b"".join(pktline.band(2, f"{_one_line(message)}\n".encode()))
        return out + b"".join(pktline.band(1, body)) + pktline.flush()


def _one_line(text: str) -> str:
    return header_value(text, limit=900).strip() or "refused"


async def _commands(reader: pktline.StreamReader) -> tuple[list[Update], set[str]]:
    updates: list[Update] = []
    capabilities: set[str] = set()
    while True:
        packet = await reader.packet()
        if packet is None or packet is pktline.FLUSH:
            break
        if isinstance(packet, pktline.Special):
            raise BadRequest("Unexpected special packet among push commands.")
        command, _, caps = packet.partition(b"\0")
        text = pktline.text(command)
        if not updates and caps:
            capabilities = set(pktline.text(caps).split())
        if text.startswith("shallow "):
            continue  # a shallow client: the pack is checked whole all the same
        parts = text.split(" ")
        if len(parts) != 3 or not (_OID.match(parts[0]) and _OID.match(parts[1])):
            raise BadRequest(f"Malformed push command {text[:120]!r}.")
        if any(u.ref == parts[2] for u in updates) or len(updates) >= MAX_COMMANDS:
            raise BadRequest(f"Push command for {parts[2][:120]!r} repeated, or too many.")
        updates.append(_update(*parts))
    return updates, capabilities


def _update(old: str, new: str, ref: str) -> Update:
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix):
            return Update(ref, kind, ref.removeprefix(prefix), old, new)
    return Update(
        ref, "pull-request" if ref.startswith(("refs/for/", "refs/pr/")) else "", ref, old, new
    )


def _policy(update: Update) -> str | None:
    """Why the hub refuses this command whatever the objects are, or None."""
    if not update.kind:
        return "only branches (refs/heads/*) and tags (refs/tags/*) can be pushed here"
    if update.kind == "pull-request":
        if update.deletes:
            return "pull request refs cannot be deleted"
        if not (_PR.match(update.ref) or update.ref.startswith("refs/for/")):
            return "pull request refs are refs/for/<branch> and refs/pr/<number>"
        name = update.ref.removeprefix("refs/for/") if update.ref.startswith("refs/for/") else ""
    else:
        name = update.name
    if name:
        try:
            check_ref_name(name)
        except BadRequest as exc:
            return exc.message
    if update.creates and update.deletes:
        return "nothing to do"
    return None


def _protected(hub: Hub, branch: str) -> bool:
    patterns = [p.strip() for p in hub.settings.protected_branches.split(",") if p.strip()]
    return any(fnmatch.fnmatchcase(branch, p) for p in patterns)


def _rules(
    hub: Hub, checker: checks.Checker, update: Update, current: dict[str, str]
) -> str | None:
    """The rules that depend on history: the ref where the pusher saw it (checked
    again, atomically, when it moves), protected branches, commits as targets."""
    if update.kind != "pull-request" and current.get(update.ref, ZERO_ID) != update.old:
        return "fetch first"
    if update.kind == "branch" and _protected(hub, update.name):
        if update.deletes:
            return f"{update.name} is a protected branch: it cannot be deleted"
        if not update.creates and not checker.descends(update.new, update.old):
            return (
                f"{update.name} is a protected branch: non-fast-forward (force) pushes are "
                "refused; fetch, merge or rebase, and push again"
            )
    if not update.deletes:
        checker.target(update.new, update.ref)
    return None


def process(
    hub: Hub, repo_id: int, pusher: Principal, updates: list[Update], f: IO[bytes], size: int
) -> Report:
    """Read and check the pack, check the commands, move the refs. Blocking."""
    report = Report()
    try:
        received = packin.read_pack(hub, f, size)
    except HubError as exc:
        report.unpack = exc.message
        report.refused = {u.ref: "unpacker error" for u in updates}
        return report
    refused: dict[str, str] = {}
    for update in updates:
        if (why := _policy(update)) is not None:
            refused[update.ref] = why
    if refused:
        return _atomic(report, updates, refused)
    try:
        with hub.db.read() as session:
            repo = session.get(Repo, repo_id)
            if repo is None:
                raise checks.Refused("The repository is gone.")
            checker = checks.Checker(session, hub, repo, received)
            current = {ref_name(r): r.target for r in repos.list_refs(session, repo)}
            for update in updates:
                if (why := _rules(hub, checker, update, current)) is not None:
                    refused[update.ref] = why
            if refused:
                return _atomic(report, updates, refused)
            new = checker.check([u.new for u in updates if not u.deletes])
        report.messages = pushes.apply(hub, repo_id, pusher, updates, received, new)
    except pushes.Stale as exc:
        return _atomic(report, updates, {exc.update.ref: "fetch first"})
    except HubError as exc:
        return _atomic(report, updates, {u.ref: exc.message for u in updates})
    return report


def _atomic(report: Report, updates: list[Update], refused: dict[str, str]) -> Report:
    report.refused = {u.ref: refused.get(u.ref, "atomic push failed") for u in updates}
    return report


async def _spool(chunks: AsyncIterator[bytes], f: IO[bytes], limit: int) -> int:
    """Write the pack to ``f`` as it arrives, on worker threads; returns its size."""
    loop = asyncio.get_running_loop()
    size = 0
    buffer = bytearray()
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The pack exceeds {limit} bytes (git_max_push_bytes).")
        buffer += chunk
        if len(buffer) >= _WRITE:
            data, buffer = bytes(buffer), bytearray()
            await loop.run_in_executor(None, f.write, data)
    if buffer:
        await loop.run_in_executor(None, f.write, bytes(buffer))
    await loop.run_in_executor(None, f.flush)
    return size


async def receive(hub: Hub, repo_id: int, pusher: Principal, body: AsyncIterator[bytes]) -> bytes:
    """The whole push, from the request body to report-status."""
    reader = pktline.StreamReader(body)
    updates, capabilities = await _commands(reader)
    if not updates:
        return b""
    incoming = hub.settings.data_dir / "git-incoming"
    incoming.mkdir(exist_ok=True)
    # Unlinked at once: nothing is left behind if the process dies mid-push.
    with tempfile.TemporaryFile(dir=incoming) as f:
        size = await _spool(reader.rest(), f, hub.settings.git_max_push_bytes)
        if size == 0 and not all(u.deletes for u in updates):
            raise BadRequest("A push that creates or moves refs must send a pack.")
        report = await anyio.to_thread.run_sync(process, hub, repo_id, pusher, updates, f, size)
    return report.encode(updates, capabilities)
