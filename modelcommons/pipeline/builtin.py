"""The hub's own steps, registered through the ``modelcommons`` entry point group like
any outside plugin's.

Synchronous (in the commit's transaction), and why:

- ``card``: the repository row's card data and tags; every page and API answer
  after the commit must show the card that was committed.
- ``search``: the search document; a repository is findable by its new card as soon
  as its commit returns (clients and pages read their own writes).
- ``lineage``: the card's parents, pinned to their commits at this moment; the
  licence check reads them.
- ``licences``: its verdict is part of the commit's answer (``X-HF-Warning``) and a
  policy of ``reject`` refuses the commit, so the commit waits for it.

Background (a job after the commit): ``scan``, which reads every new blob and may
take seconds per file; a scan never blocks a commit, and files are ``queued`` until
scanned.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ..db.schema import Repo
from ..governance import licence_checks, lineage
from ..governance.cards import card_text, derive_tags, parse_front_matter
from ..scanning import SCANNER_VERSION, results, store
from ..scanning.results import SCAN_STEP
from ..storage.trees import FileInfo, TreeReader
from .hookspecs import hookimpl
from .steps import Landed, Step

if TYPE_CHECKING:
    from ..hub import Hub


#: How many files with issues a scan step's result names (the card page shows them).
ISSUES_KEPT = 200


def _card_commit(landed: Landed) -> bool:
    return landed.default_branch and landed.readme_changed


class CardStep:
    name, version, synchronous = "card", "1", True

    def wants(self, landed: Landed) -> bool:
        return _card_commit(landed)

    def run(
        self, hub: Hub, session: Session, repo: Repo, landed: Landed, context: dict[str, Any]
    ) -> dict[str, Any]:
        reader = TreeReader(session, hub.tree_cache)
        info = reader.file(landed.tree_oid, "README.md")
        text = card_text(hub.blobs, info)
        card: dict[str, object] = parse_front_matter(text) if text else {}
        repo.card_data = json.dumps(card, default=str)
        repo.tags = " ".join(derive_tags(card, repo.kind))
        context["card"], context["readme"] = card, text
        return {"keys": len(card)}


class SearchStep:
    name, version, synchronous = "search", "1", True

    def wants(self, landed: Landed) -> bool:
        return _card_commit(landed)

    def run(
        self, hub: Hub, session: Session, repo: Repo, landed: Landed, context: dict[str, Any]
    ) -> None:
        hub.search.update(session, repo, readme=str(context.get("readme", "")))


class LineageStep:
    name, version, synchronous = "lineage", "1", True

    def wants(self, landed: Landed) -> bool:
        return _card_commit(landed)

    def run(
        self, hub: Hub, session: Session, repo: Repo, landed: Landed, context: dict[str, Any]
    ) -> None:
        lineage.refresh(session, repo, landed.commit_oid, context.get("card", {}), landed.author)


class LicenceStep:
    name, version, synchronous = "licences", "1", True

    def wants(self, landed: Landed) -> bool:
        return _card_commit(landed)

    def run(
        self, hub: Hub, session: Session, repo: Repo, landed: Landed, context: dict[str, Any]
    ) -> None:
        card = context.get("card", {})
        licence_checks.run(hub, session, repo, landed.commit_oid, card, landed.author)


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
