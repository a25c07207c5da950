"""Lineage: the parents a card names (``base_model``, ``datasets``), pinned at commit time.

Edges are rewritten whenever a commit changes README.md on main, in that commit's
transaction. Each names the parent's main head at that moment, so a later parent
commit never changes what a child was built from. Parents not on this hub (or not
readable by the committer) are kept as unresolved references.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..accounts import Principal, roles
from ..db.schema import Account, Commit, LicenceCheck, LineageEdge, Repo
from ..storage import repos
from ..storage.trees import TreeReader
from ..validation.names import URL_PREFIX
from .cards import card_text, parse_front_matter
from .licenses import catalogue

if TYPE_CHECKING:
    from ..hub import Hub

RELATIONS = ("finetune", "adapter", "quantized", "merge")
MAX_PARENTS = 50


@dataclasses.dataclass(frozen=True)
class ParentRef:
    kind: str  # "model" | "dataset"
    ref: str  # as written in the card
    relation: str


def _names(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in items if isinstance(v, str | int | float) and str(v).strip()]


def parents_in(card: dict[str, Any]) -> list[ParentRef]:
    """The parents a card names, in order, without duplicates."""
    models = _names(card.get("base_model"))
    relation = str(card.get("base_model_relation") or "").strip().lower()
    if relation not in RELATIONS:
        relation = "merge" if len(models) > 1 else "finetune"
    out = [ParentRef("model", m, relation) for m in models]
    out += [ParentRef("dataset", d, "dataset") for d in _names(card.get("datasets"))]
    seen: dict[tuple[str, str], ParentRef] = {}
    for p in out:
        seen.setdefault((p.kind, p.ref.lower()), p)
    return list(seen.values())[:MAX_PARENTS]


def principal_of(session: Session, name: str) -> Principal | None:
    """A read-only principal for a committer, to apply the usual read rules to them."""
    account = session.scalar(select(Account).where(Account.name == name))
    if account is None:
        return None
    return Principal(account.id, account.name, "read", "", account.is_admin)


def find_repo(session: Session, kind: str, ref: str) -> Repo | None:
    if ref.count("/") != 1:
        return None
    namespace, name = ref.split("/")
    return session.scalar(
        select(Repo).where(Repo.kind == kind, Repo.namespace == namespace, Repo.name == name)
    )


def refresh(
    session: Session, repo: Repo, commit_oid: str, card: dict[str, Any], author: str
) -> None:
    """Replace ``repo``'s edges with those its card names now (same transaction)."""
    session.execute(delete(LineageEdge).where(LineageEdge.child_id == repo.id))
    committer = principal_of(session, author)
    for parent in parents_in(card):
        target = find_repo(session, parent.kind, parent.ref)
        if target is not None and (
            target.id == repo.id or not roles.can_read(session, committer, target)
        ):
            target = None
        head = None
        if target is not None:
            ref = repos.get_ref(session, target, "branch", repos.DEFAULT_BRANCH)
            head = ref.target if ref is not None else None
        session.add(
            LineageEdge(
                child_id=repo.id,
                child_commit=commit_oid,
                parent_kind=parent.kind,
                parent_ref=parent.ref[:200],
                parent_id=target.id if target is not None else None,
                parent_commit=head,
                relation=parent.relation,
            )
        )
    session.flush()


def edges_of(session: Session, repo_id: int) -> list[LineageEdge]:
    return list(
        session.scalars(
            select(LineageEdge).where(LineageEdge.child_id == repo_id).order_by(LineageEdge.id)
        )
    )


def card_at(hub: Hub, session: Session, repo: Repo, commit_oid: str | None) -> dict[str, Any]:
    """A repository's card metadata at a commit (its current card if the commit is gone)."""
    commit = session.get(Commit, (repo.id, commit_oid)) if commit_oid else None
    if commit is None:
        return repos.card_of(repo)
    info = TreeReader(session, hub.tree_cache).file(commit.tree_oid, "README.md")
    text = card_text(hub.blobs, info) if info is not None and not info.lfs else ""
    if not text:
        return {}
    try:
        return parse_front_matter(text)
    except Exception:
        return {}


def _url(repo: Repo) -> str:
    return f"/{URL_PREFIX[repo.kind]}{repo.repo_id}"


def view(session: Session, principal: Principal | None, repo: Repo) -> dict[str, Any]:
    """Parents, children and the latest licence check, as ``principal`` may see them."""
    parents: list[dict[str, Any]] = []
    for edge in edges_of(session, repo.id):
        parent = session.get(Repo, edge.parent_id) if edge.parent_id else None
        if parent is not None and not roles.can_read(session, principal, parent):
            parent = None  # private: exactly like a parent that is not here
        parents.append(
            {
                "id": parent.repo_id if parent else edge.parent_ref,
                "type": edge.parent_kind,
                "relation": edge.relation,
                "resolved": parent is not None,
                "commit": edge.parent_commit if parent else None,
                "url": _url(parent) if parent else None,
                "license": catalogue().resolve(repos.card_of(parent)).declared if parent else None,
            }
        )
    children: list[dict[str, Any]] = []
    rows = session.execute(
        select(LineageEdge, Repo)
        .join(Repo, Repo.id == LineageEdge.child_id)
        .where(LineageEdge.parent_id == repo.id)
        .order_by(Repo.namespace, Repo.name)
    )
    for edge, child in rows:
        if roles.can_read(session, principal, child):
            children.append(
                {
                    "id": child.repo_id,
                    "type": child.kind,
                    "relation": edge.relation,
                    "commit": edge.parent_commit,
                    "childCommit": edge.child_commit,
                    "url": _url(child),
                }
            )
    return {
        "id": repo.repo_id,
        "license": catalogue().resolve(repos.card_of(repo)).as_json(),
        "parents": parents,
        "children": children,
        "licenseCheck": latest_check(session, principal, repo),
    }


def latest_check(
    session: Session, principal: Principal | None, repo: Repo
) -> dict[str, Any] | None:
    row = session.scalar(
        select(LicenceCheck)
        .where(LicenceCheck.repo_id == repo.id)
        .order_by(LicenceCheck.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    findings = []
    for finding in json.loads(row.findings):
        ancestor_id = finding.pop("ancestor_id", None)
        if ancestor_id is not None:
            ancestor = session.get(Repo, ancestor_id)
            if ancestor is None or not roles.can_read(session, principal, ancestor):
                continue
        findings.append(finding)
    return {
        "commit": row.commit_oid,
        "status": row.status,
        "policy": row.policy,
        "checkedAt": row.created_at.isoformat() + "Z",
        "findings": findings,
    }
