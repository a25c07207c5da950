"""What webhooks receive: events noted by the domains (``db.outbox``), turned into
deliveries in the same transaction, and handed to the job queue once it commits.

A webhook receives an event when it watches the repository (``model``/``dataset``
and its id) or its namespace (``user``/``org``), covers the event's domain (``repo``
for commits to branches, ``discussion`` for discussions, pull requests and their
comments), is enabled, and its owner may read the repository at that moment: a
private repository's events never reach someone who cannot see it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ..accounts import Principal
from ..accounts.roles import can_read
from ..db import outbox
from ..db.community_tables import Discussion, DiscussionEvent, Webhook, WebhookDelivery
from ..db.schema import Account, Repo
from .delivery import payload_text
from .store import WebhookSecrets

if TYPE_CHECKING:
    from ..hub import Hub

PLURAL = {"model": "models", "dataset": "datasets"}


class Webhooks:
    def __init__(self, hub: Hub, hub_secret: str) -> None:
        self.hub = hub
        self.keys = WebhookSecrets(hub_secret)
        event.listen(hub.db.sessions, "before_commit", self._before_commit)
        event.listen(hub.db.sessions, "after_rollback", outbox.discard)

    # ------------------------------------------------------------ events

    def _before_commit(self, session: Session) -> None:
        notes = outbox.drain(session)
        if not notes or not session.scalar(select(Webhook.id).limit(1)):
            return
        for kind, data in notes:
            if kind == "branch.moved":
                repo = session.get(Repo, data["repo"])
                if repo is not None:
                    self._emit(session, repo, "repo", self._repo_payload(repo, data))
            elif kind in ("discussion.created", "discussion.event"):
                d = session.get(Discussion, data["discussion"])
                repo = session.get(Repo, d.repo_id) if d is not None else None
                if d is not None and repo is not None:
                    ev = session.get(DiscussionEvent, data["event"]) if "event" in data else None
                    payload = self._discussion_payload(repo, d, ev, data.get("action", "create"))
                    self._emit(session, repo, "discussion", payload)

    def _urls(self, repo: Repo) -> dict[str, str]:
        base = self.hub.settings.public_url or ""
        web = f"{base}/{'datasets/' if repo.kind == 'dataset' else ''}{repo.repo_id}"
        return {"web": web, "api": f"{base}/api/{PLURAL[repo.kind]}/{repo.repo_id}"}

    def _repo_doc(self, repo: Repo) -> dict[str, Any]:
        return {
            "type": repo.kind,
            "name": repo.repo_id,
            "id": str(repo.id),
            "private": repo.private,
            "url": self._urls(repo),
            "owner": {"id": str(repo.owner_id)},
        }

    def _repo_payload(self, repo: Repo, data: dict[str, Any]) -> dict[str, Any]:
        doc = self._repo_doc(repo)
        doc["headSha"] = data["commit"]
        return {
            "event": {"action": "update", "scope": "repo.content"},
            "repo": doc,
            "updatedRefs": [{"ref": f"refs/heads/{data['branch']}", "newSha": data["commit"]}],
        }

    def _discussion_payload(
        self, repo: Repo, d: Discussion, ev: DiscussionEvent | None, action: str
    ) -> dict[str, Any]:
        urls = self._urls(repo)
        discussion: dict[str, Any] = {
            "id": str(d.id),
            "num": d.num,
            "title": d.title,
            "status": d.status,
            "isPullRequest": d.is_pr,
            "author": {"id": d.author},
            "createdAt": d.created_at.isoformat() + "Z",
            "url": {
                "web": f"{urls['web']}/discussions/{d.num}",
                "api": f"{urls['api']}/discussions/{d.num}",
            },
        }
        if d.is_pr:
            discussion["changes"] = {"base": f"refs/heads/{d.target}"}
        payload: dict[str, Any] = {
            "event": {"action": action, "scope": "discussion"},
            "repo": self._repo_doc(repo),
            "discussion": discussion,
        }
        if ev is not None and ev.kind == "comment":
            payload["event"]["scope"] = "discussion.comment"
            payload["comment"] = {
                "id": f"{ev.id:024x}",
                "author": {"id": ev.author},
                "content": "" if ev.hidden else ev.content,
                "hidden": ev.hidden,
                "url": {"web": f"{urls['web']}/discussions/{d.num}#{ev.id:024x}"},
            }
        elif ev is not None:
            payload["event"]["action"] = "update"
            payload["discussion"]["event"] = {"type": ev.kind, **json.loads(ev.data or "{}")}
        return payload

    def _emit(self, session: Session, repo: Repo, domain: str, payload: dict[str, Any]) -> None:
        ids: list[int] = []
        for hook in session.scalars(select(Webhook).where(Webhook.disabled.is_(False))):
            if domain not in json.loads(hook.domains) or not _watches(hook, repo):
                continue
            owner = session.get(Account, hook.owner_id)
            if owner is None:
                continue
            principal = Principal(owner.id, owner.name, "read", "webhook", owner.is_admin)
            if not can_read(session, principal, repo):
                continue
            body = dict(payload, webhook={"id": hook.id, "version": 3})
            row = WebhookDelivery(
                webhook_id=hook.id, payload=payload_text(body), status="pending", attempts=0
            )
            session.add(row)
            session.flush()
            ids.append(row.id)
        if ids:
            jobs = self.hub.jobs

            def enqueue() -> None:
                for delivery_id in ids:
                    jobs.deliver_webhook(delivery_id)

            jobs.after_commit(session, enqueue)


def _watches(hook: Webhook, repo: Repo) -> bool:
    for item in json.loads(hook.watched):
        kind, name = item.get("type"), str(item.get("name", ""))
        if kind == repo.kind and name.lower() == repo.repo_id.lower():
            return True
        if kind in ("user", "org") and name.lower() == repo.namespace.lower():
            return True
    return False
