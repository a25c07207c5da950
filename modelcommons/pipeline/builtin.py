"""The hub's own steps, registered through the ``modelcommons`` entry point group like
any outside plugin's.

Synchronous (in the commit's transaction), and why:

- ``card``: the repository row's card data and tags, parsed from the committed
  README.md (one small blob); ``model_info`` and every page after the commit must
  show the card that was committed (clients read their own writes).

Background (jobs after the commit's transaction, ``pipeline_steps`` rows):

- ``search``: the search document, rebuilt from the repository as it is when the job
  runs (the latest card), so jobs that run late or twice converge on the same index.
- ``lineage``: the card's parents, each pinned to its main head when the job runs.
- ``licences`` (after ``lineage``): the card's licence against its whole ancestry.
  Under a licence policy of ``reject`` (the namespace's or the hub's) it runs in the
  commit's transaction instead, with ``lineage`` before it: its verdict decides
  whether the commit lands, so the commit must wait for it.
- ``scan``: reads every new blob and may take seconds per file; a scan never blocks
  a commit, and files are ``queued`` until scanned.

``lineage`` and ``licences`` of a commit whose card a later commit on main has
replaced do nothing (``superseded``): the later commit's own steps decide.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ..db.schema import Commit, Repo
from ..governance import licence_checks, lineage
from ..governance.cards import card_text, derive_tags, parse_front_matter
from ..scanning import SCANNER_VERSION, results, store
from ..scanning.results import SCAN_STEP
from ..storage import repos
from ..storage.trees import FileInfo, TreeReader
from .hookspecs import hookimpl
from .steps import IN_COMMIT, Landed, Step

if TYPE_CHECKING:
    from ..hub import Hub


#: How many files with issues a scan step's result names (the card page shows them).
ISSUES_KEPT = 200


def _card_commit(landed: Landed) -> bool:
    return landed.default_branch and landed.readme_changed


def _readme(hub: Hub, session: Session, tree_oid: str) -> tuple[dict[str, Any], str]:
    """The card metadata and text of README.md in a tree."""
    info = TreeReader(session, hub.tree_cache).file(tree_oid, "README.md")
    text = card_text(hub.blobs, info)
    return (parse_front_matter(text) if text else {}), text


def _card(hub: Hub, session: Session, landed: Landed, context: dict[str, Any]) -> dict[str, Any]:
    """The commit's card: the ``card`` step's parse in the commit, else parsed again."""
    if "card" in context:
        return dict(context["card"])
    return _readme(hub, session, landed.tree_oid)[0]


def _superseded(hub: Hub, session: Session, repo: Repo, landed: Landed) -> bool:
    """Whether main now holds another README.md than this commit's: a later commit
    changed the card, and its own steps follow (jobs may run out of order)."""
    ref = repos.get_ref(session, repo, "branch", repos.DEFAULT_BRANCH)
    if ref is None:
        return True
    if ref.target == landed.commit_oid:
        return False
    head = session.get(Commit, (repo.id, ref.target))
    if head is None:
        return True
    reader = TreeReader(session, hub.tree_cache)
    now, then = reader.find(head.tree_oid, "README.md"), reader.find(landed.tree_oid, "README.md")
    return (now.oid if now else None) != (then.oid if then else None)


class CardStep:
    name, version, synchronous = "card", "1", True

    def wants(self, landed: Landed) -> bool:
        return _card_commit(landed)

    def run(
        self, hub: Hub, session: Session, repo: Repo, landed: Landed, context: dict[str, Any]
    ) -> dict[str, Any]:
        card, text = _readme(hub, session, landed.tree_oid)
        repo.card_data = json.dumps(card, default=str)
        repo.tags = " ".join(derive_tags(card, repo.kind))
        context["card"], context["readme"] = card, text
        return {"keys": len(card)}


class SearchStep:
    name, version, synchronous, writes = "search", "3", False, True

    def wants(self, landed: Landed) -> bool:
        # Every commit to main: besides the card, the files may show the library
        # (a Keras or TensorFlow layout) when the card names none.
        return landed.default_branch

    def run(
        self, hub: Hub, session: Session, repo: Repo, landed: Landed, context: dict[str, Any]
    ) -> None:
        # From the repository as it is now (its card, main's README.md and files), not
        # from this commit: a job that runs after a later commit's cannot index an old
        # card. Without a new README the stored text is kept, and an unchanged
        # document is not written again.
        if landed.readme_changed:
            hub.search.rebuild(session, repo)
        else:
            hub.search.update(session, repo)


class LineageStep:
    name, version, synchronous, writes = "lineage", "2", False, True

    def wants(self, landed: Landed) -> bool:
        return _card_commit(landed)

    def run(
        self, hub: Hub, session: Session, repo: Repo, landed: Landed, context: dict[str, Any]
    ) -> dict[str, Any]:
        if _superseded(hub, session, repo, landed):
            return {"superseded": True}
        card = _card(hub, session, landed, context)
        lineage.refresh(session, repo, landed.commit_oid, card, landed.author)
        return {"parents": len(lineage.parents_in(card))}


class LicenceStep:
    name, version, synchronous, writes = "licences", "2", False, True
    requires = ("lineage",)
    waits_when = "the licence policy is reject"

    def wants(self, landed: Landed) -> bool:
        return _card_commit(landed)

    def must_wait(self, hub: Hub, session: Session, repo: Repo, landed: Landed) -> bool:
        return licence_checks.policy_for(hub, session, repo.namespace) == "reject"

    def run(
        self, hub: Hub, session: Session, repo: Repo, landed: Landed, context: dict[str, Any]
    ) -> dict[str, Any]:
        if _superseded(hub, session, repo, landed):
            return {"superseded": True}
        card = _card(hub, session, landed, context)
        # Only a check in the commit may refuse it; one after it records what it finds.
        check = licence_checks.run(
            hub,
            session,
            repo,
            landed.commit_oid,
            card,
            landed.author,
            may_reject=bool(context.get(IN_COMMIT)),
        )
        return {"status": check.status, "policy": check.policy}


class ScanStep:
    """Scan every file of the commit whose blob has no result from this scanner
    version (most files of a commit are already scanned: only new blobs cost)."""

    name, version, synchronous = SCAN_STEP, SCANNER_VERSION, False

    def wants(self, landed: Landed) -> bool:
        return True

    def run(
        self, hub: Hub, session: Session, repo: Repo, landed: Landed, context: dict[str, Any]
    ) -> dict[str, Any]:
        reader = TreeReader(session, hub.tree_cache)
        items = [
            (p, e) for p, e in reader.walk(landed.tree_oid, "", recursive=True) if not e.is_dir
        ]
        files = [i for i in reader.describe(items) if isinstance(i, FileInfo)]
        done = store.lookup(session, (store.key(f.sha256, f.path) for f in files))
        scanned = 0
        seen: set[store.Key] = set()
        for info in files:
            key = store.key(info.sha256, info.path)
            if key in seen or not store.needs_scan(done.get(key)):
                continue
            seen.add(key)
            report, seconds = store.scan_blob(hub.blobs, info.sha256, info.path, info.size)
            # Each result in its own transaction: a long commit scan keeps what it did.
            with hub.db.write() as own:
                store.record(own, info.sha256, info.path, info.size, report, seconds)
            scanned += 1
        # The revision's files with issues, for pages that must not walk the tree
        # (a fresh session: the first one's snapshot predates the results above).
        with hub.db.read() as fresh:
            statuses = results.statuses_of(
                fresh, repo, landed.commit_oid, ((f.path, f.sha256, f.size) for f in files)
            )
        found = [
            {"path": s.path, "status": s.status}
            for s in sorted(statuses.values(), key=lambda s: s.path)
            if s.has_issues
        ]
        return {
            "files": len(files),
            "scanned": scanned,
            "issues": len(found),
            "with_issues": found[:ISSUES_KEPT],
        }


class Builtin:
    """The hub's own plugin: one object, so that ``commons plugins`` lists it once."""

    @hookimpl
    def modelcommons_pipeline_steps(self) -> list[Step]:
        return [CardStep(), SearchStep(), LineageStep(), LicenceStep(), ScanStep()]


PLUGIN = Builtin()
