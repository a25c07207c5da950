"""What a new card on the default branch changes: the repository's card data and tags,
its search document, its lineage and its licence check.

The commit engine (:mod:`modelcommons.storage.commits`) calls :meth:`CardUpdates.card_changed`
in the commit's own transaction, so none of these ever disagrees with a committed card,
and a licence policy of ``reject`` can still refuse the commit.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ..db.schema import Repo
from ..storage.trees import TreeReader
from . import licence_checks, lineage
from .cards import derive_tags, parse_front_matter

if TYPE_CHECKING:
    from ..hub import Hub


class CardUpdates:
    """The hub's :class:`~modelcommons.storage.commits.CommitObserver`."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def card_changed(
        self,
        session: Session,
        reader: TreeReader,
        repo: Repo,
        commit_oid: str,
        tree_oid: str,
        author: str,
    ) -> None:
        card = self.refresh_card(session, reader, repo, tree_oid)
        lineage.refresh(session, repo, commit_oid, card, author)
        licence_checks.run(self.hub, session, repo, commit_oid, card, author)

    def refresh_card(
        self, session: Session, reader: TreeReader, repo: Repo, tree: str
    ) -> dict[str, object]:
        """Read the card at ``tree`` into the repository's row and search document."""
        info = reader.file(tree, "README.md")
        card: dict[str, object] = {}
        text = ""
        if info is not None and info.size <= 1024 * 1024:
            with self.hub.blobs.open(info.sha256) as f:
                text = f.read().decode("utf-8", "replace")
            card = parse_front_matter(text)
        repo.card_data = json.dumps(card, default=str)
        repo.tags = " ".join(derive_tags(card, repo.kind))
        self.hub.search.update(session, repo, readme=text)
        return card
