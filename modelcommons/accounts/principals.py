"""Who is making a request (a :class:`Principal`), and what a fine-grained token
reaches (a :class:`TokenScope`)."""

from __future__ import annotations

import dataclasses
import json

from ..errors import BadRequest

PERMISSIONS = ("read", "write", "admin")


@dataclasses.dataclass(frozen=True)
class TokenScope:
    """What a fine-grained token may touch: named repositories and namespaces, and
    the permissions it carries there (read private content, write, administer).

    Entities are ``model:ns/name``, ``dataset:ns/name`` or ``ns:name`` (a user or
    organisation, every repository in it).
    """

    entities: frozenset[str]
    permissions: frozenset[str]

    def covers_repo(self, kind: str, repo_id: str) -> bool:
        namespace = repo_id.split("/", 1)[0]
        return f"{kind}:{repo_id}" in self.entities or f"ns:{namespace}" in self.entities

    def covers_namespace(self, namespace: str) -> bool:
        return f"ns:{namespace}" in self.entities

    def to_json(self) -> str:
        return json.dumps(
            {"entities": sorted(self.entities), "permissions": sorted(self.permissions)}
        )

    @classmethod
    def parse(cls, entities: list[str], permissions: list[str]) -> TokenScope:
        for entity in entities:
            kind, _, name = entity.partition(":")
            if kind not in ("model", "dataset", "ns") or not name:
                raise BadRequest(
                    f"Invalid token scope {entity!r}: use model:NS/NAME, "
                    "dataset:NS/NAME or ns:NAMESPACE."
                )
        bad = [p for p in permissions if p not in PERMISSIONS]
        if bad or not permissions:
            raise BadRequest(f"Token permissions must be some of {', '.join(PERMISSIONS)}.")
        return cls(frozenset(entities), frozenset(permissions))

    @classmethod
    def from_json(cls, text: str) -> TokenScope:
        data = json.loads(text)
        return cls(frozenset(data["entities"]), frozenset(data["permissions"]))


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who is making a request, and with what token."""

    user_id: int
    name: str
    token_role: str  # "read" | "write" | "fineGrained"
    token_name: str
    is_admin: bool = False
    #: Set for fine-grained tokens: nothing outside it is reachable with this token.
    scope: TokenScope | None = None
    #: Which credential this is ("token:ID" or "session:SHA256"), so that what was
    #: handed out to it (signed LFS download URLs) can be checked again later.
    credential: str | None = None

    def allows(self, permission: str) -> bool:
        """Whether the token carries ``permission`` (read, write or admin) at all."""
        if self.scope is not None:
            return permission in self.scope.permissions
        return permission == "read" or self.token_role == "write"
