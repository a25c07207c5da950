"""Collections: who may see and change them, and what their items show to whom.

The rules, here and only here:

- A **private** collection is visible only to those with a role over its namespace
  (the user themselves, or the organisation's members); to anyone else it is not found,
  as a private repository is.
- **Changing** a collection (its metadata, its items, deleting it) and creating one
  need what creating a repository in the namespace needs (``require_namespace_write``).
- **Items** are shown only to callers who may see what they name: a private repository
  or a private collection in a public collection is left out for everyone else, so a
  collection never tells of a repository its reader could not find.
- **Adding** an item needs the caller to see what it names (a repository, or a
  collection); otherwise it is "not found", as the thing itself would be.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..accounts import Principal, roles
from ..accounts.users import find_account
from ..clock import utcnow
from ..db.schema import Account, Collection, CollectionItem, Repo
from ..errors import BadRequest, Conflict, NotFound
from ..storage import repos
from ..validation.inputs import check_text

TITLE_MAX = 200
DESCRIPTION_MAX = 1000
NOTE_MAX = 1000
THEMES = ("default", "orange", "blue", "green", "purple", "pink", "indigo")
ITEM_KINDS = ("model", "dataset", "collection")
_UID = re.compile(r"^[0-9a-f]{24}$")
_WORDS = re.compile(r"[^a-z0-9]+")


def _missing(slug: str) -> NotFound:
    return NotFound(f"Collection not found: {slug}", code="CollectionNotFound")


def check_title(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("A collection needs a 'title'.")
    title = " ".join(check_text(value, "The title").split())
    if len(title) > TITLE_MAX:
        raise BadRequest(f"A collection's title has at most {TITLE_MAX} characters.")
    return title


def _check_optional_text(value: object, what: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be text.")
    if len(value) > limit:
        raise BadRequest(f"{what} has at most {limit} characters.")
    return check_text(value, what)


def slug_of(collection: Collection, owner: str) -> str:
    words = _WORDS.sub("-", collection.title.lower()).strip("-")[:80].strip("-")
    return f"{owner}/{words + '-' if words else ''}{collection.uid}"


def _owner_name(session: Session, collection: Collection) -> str:
    account = session.get(Account, collection.owner_id)
    assert account is not None
    return account.name


def can_see(session: Session, principal: Principal | None, collection: Collection) -> bool:
    if not collection.private:
        return True
    owner = _owner_name(session, collection)
    return roles.namespace_role(session, principal, owner) is not None


def find(session: Session, principal: Principal | None, slug: str) -> Collection:
    """The collection a slug names (by its uid, whatever the words), if the caller may
    see it; else not found."""
    uid = slug.rsplit("-", 1)[-1].rsplit("/", 1)[-1]
    collection = (
        session.scalar(select(Collection).where(Collection.uid == uid)) if _UID.match(uid) else None
    )
    if collection is None or not can_see(session, principal, collection):
        raise _missing(slug)
    return collection


def find_to_change(session: Session, principal: Principal | None, slug: str) -> Collection:
    collection = find(session, principal, slug)
    roles.require_namespace_write(session, principal, _owner_name(session, collection))
    return collection


def create(
    session: Session,
    principal: Principal | None,
    namespace: str,
    title: object,
    *,
    description: object = None,
    private: bool = False,
) -> Collection:
    owner = find_account(session, namespace)
    if owner is None:
        raise BadRequest(f"No user or organisation named {namespace!r}.")
    roles.require_namespace_write(session, principal, owner.name)
    collection = Collection(
        uid=secrets.token_hex(12),
        owner_id=owner.id,
        title=check_title(title),
        description=_check_optional_text(description, "The description", DESCRIPTION_MAX),
        private=private,
    )
    session.add(collection)
    session.flush()
    return collection


def update_metadata(collection: Collection, body: dict[str, Any]) -> None:
    if "title" in body:
        collection.title = check_title(body["title"])
    if "description" in body:
        collection.description = _check_optional_text(
            body["description"], "The description", DESCRIPTION_MAX
        )
    if "private" in body:
        if not isinstance(body["private"], bool):
            raise BadRequest("'private' must be true or false.")
        collection.private = body["private"]
    if "theme" in body:
        if body["theme"] not in THEMES:
            raise BadRequest(f"'theme' must be one of {', '.join(THEMES)}.")
        collection.theme = str(body["theme"])
    if "position" in body:
        if not isinstance(body["position"], int) or body["position"] < 0:
            raise BadRequest("'position' must be a whole number, 0 or more.")
        collection.position = body["position"]
    collection.updated_at = utcnow()


def _target(
    session: Session, principal: Principal | None, kind: object, item_id: object
) -> tuple[str, Repo | None, Collection | None]:
    if kind not in ITEM_KINDS or not isinstance(item_id, str):
        raise BadRequest(f"An item needs an 'id' and a 'type' ({', '.join(ITEM_KINDS)}).")
    if kind == "collection":
        return "collection", None, find(session, principal, item_id)
    namespace, _, name = item_id.partition("/")
    if not namespace or not name:
        raise NotFound(f"Repository not found: {item_id}", code="RepoNotFound")
    repo = repos.get_repo(session, str(kind), namespace, name)
    roles.require_read(session, principal, repo)
    return str(kind), repo, None


def _items(session: Session, collection: Collection) -> list[CollectionItem]:
    return list(
        session.scalars(
            select(CollectionItem)
            .where(CollectionItem.collection_id == collection.id)
            .order_by(CollectionItem.position, CollectionItem.id)
        )
    )


def add_item(
    session: Session,
    principal: Principal | None,
    collection: Collection,
    kind: object,
    item_id: object,
    note: object,
) -> CollectionItem:
    what, repo, member = _target(session, principal, kind, item_id)
    if member is not None and member.id == collection.id:
        raise BadRequest("A collection cannot contain itself.")
    for item in _items(session, collection):
        if (repo and item.repo_id == repo.id) or (member and item.member_id == member.id):
            raise Conflict(f"{item_id} is already in this collection.")
    last = session.scalar(
        select(func.max(CollectionItem.position)).where(
            CollectionItem.collection_id == collection.id
        )
    )
    item = CollectionItem(
        uid=secrets.token_hex(12),
        collection_id=collection.id,
        kind=what,
        repo_id=repo.id if repo else None,
        member_id=member.id if member else None,
        position=(last + 1) if last is not None else 0,
        note=_check_optional_text(note, "The note", NOTE_MAX),
    )
    session.add(item)
    collection.updated_at = utcnow()
    session.flush()
    return item


def _item(session: Session, collection: Collection, uid: str) -> CollectionItem:
    item = session.scalar(
        select(CollectionItem).where(
            CollectionItem.uid == uid, CollectionItem.collection_id == collection.id
        )
    )
    if item is None:
        raise NotFound(f"No item {uid!r} in this collection.")
    return item


def update_item(session: Session, collection: Collection, uid: str, body: dict[str, Any]) -> None:
    item = _item(session, collection, uid)
    if "note" in body:
        item.note = _check_optional_text(body["note"], "The note", NOTE_MAX)
    if "position" in body:
        position = body["position"]
        if not isinstance(position, int) or position < 0:
            raise BadRequest("'position' must be a whole number, 0 or more.")
        others = [i for i in _items(session, collection) if i.id != item.id]
        others.insert(min(position, len(others)), item)
        for i, each in enumerate(others):
            each.position = i
    collection.updated_at = utcnow()


def delete_item(session: Session, collection: Collection, uid: str) -> None:
    session.delete(_item(session, collection, uid))
    session.flush()
    for i, each in enumerate(_items(session, collection)):
        each.position = i
    collection.updated_at = utcnow()


def _item_doc(
    session: Session, principal: Principal | None, item: CollectionItem
) -> dict[str, Any] | None:
    """An item as the client reads it, or None when the caller may not see its target."""
    doc: dict[str, Any] = {
        "_id": item.uid,
        "type": item.kind,
        "position": item.position,
        "note": {"text": item.note} if item.note is not None else None,
    }
    if item.repo_id is not None:
        repo = session.get(Repo, item.repo_id)
        if repo is None or not roles.can_read(session, principal, repo):
            return None
        return {**doc, "id": repo.repo_id, "private": repo.private}
    member = session.get(Collection, item.member_id)
    if member is None or not can_see(session, principal, member):
        return None
    slug = slug_of(member, _owner_name(session, member))
    return {**doc, "id": slug, "slug": slug, "title": member.title}


def document(
    session: Session,
    principal: Principal | None,
    collection: Collection,
    endpoint: str,
    *,
    max_items: int | None = None,
) -> dict[str, Any]:
    """The collection as ``GET /api/collections/{slug}`` answers it, items filtered."""
    owner = _owner_name(session, collection)
    account = find_account(session, owner)
    items = [d for i in _items(session, collection) if (d := _item_doc(session, principal, i))]
    return {
        "slug": slug_of(collection, owner),
        "title": collection.title,
        "description": collection.description,
        "owner": {
            "name": owner,
            "fullname": account.fullname if account else owner,
            "type": account.kind if account else "user",
        },
        "items": items[:max_items] if max_items is not None else items,
        "lastUpdated": collection.updated_at.isoformat() + "Z",
        "position": collection.position,
        "private": collection.private,
        "theme": collection.theme,
        "upvotes": 0,
        "url": f"{endpoint}/collections/{slug_of(collection, owner)}",
    }


def listed(
    session: Session,
    principal: Principal | None,
    *,
    owner: str | None,
    item: str | None,
    offset: int,
    limit: int,
) -> list[Collection]:
    """Collections the caller may see, newest change first, by owner and/or item
    (``models/ns/name``, ``datasets/ns/name``, ``collections/slug``)."""
    query = select(Collection).order_by(Collection.updated_at.desc(), Collection.id.desc())
    if owner is not None:
        account = find_account(session, owner)
        if account is None:
            return []
        query = query.where(Collection.owner_id == account.id)
    if item is not None:
        kind, _, target = item.partition("s/")
        try:
            what, repo, member = _target(session, principal, kind, target)
        except NotFound:
            return []
        column = CollectionItem.repo_id if repo else CollectionItem.member_id
        ref = repo.id if repo else member.id  # type: ignore[union-attr]
        query = query.where(
            Collection.id.in_(
                select(CollectionItem.collection_id).where(
                    column == ref, CollectionItem.kind == what
                )
            )
        )
    found: list[Collection] = []
    skipped = 0
    for collection in session.scalars(query):
        if not can_see(session, principal, collection):
            continue
        if skipped < offset:
            skipped += 1
            continue
        found.append(collection)
        if len(found) >= limit:
            break
    return found
