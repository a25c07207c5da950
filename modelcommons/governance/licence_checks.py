"""The licence check: a card's licence against every licence in its ancestry.

Runs after each commit that changes the card on main, once the lineage edges are
rewritten: in the commit's transaction where the policy is ``reject``, as a
post-commit pipeline job otherwise. Ancestors are walked breadth-first through their
current edges (cycle-safe, depth-capped), each read at the commit its edge pins.
Findings are ``violation`` (breaks an ancestor's licence), ``warning`` (cannot be
checked, or a duty visibly unmet), ``duty`` (an obligation to fulfil) and ``notice``.
Violations fail the commit where the namespace's (or the hub's) policy is ``reject``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from .. import audit
from ..accounts import roles
from ..db.schema import LicenceCheck, LicencePolicy, Repo
from ..errors import HubError
from . import lineage
from .licenses import CardLicence, catalogue

if TYPE_CHECKING:
    from ..hub import Hub

POLICIES = ("warn", "reject")
MAX_DEPTH = 12
MAX_ANCESTORS = 200


class LicenceViolation(HubError):
    status = 422
    code = "LicenceViolation"


@dataclasses.dataclass(frozen=True)
class Ancestor:
    ref: str
    repo: Repo | None
    commit: str | None
    depth: int
    via_dataset: bool
    licence: CardLicence | None


def ancestry(hub: Hub, session: Session, repo: Repo) -> list[Ancestor]:
    seen = {repo.id}
    out: list[Ancestor] = []
    queue = deque(
        (edge, 1, edge.relation == "dataset") for edge in lineage.edges_of(session, repo.id)
    )
    while queue and len(out) < MAX_ANCESTORS:
        edge, depth, via_dataset = queue.popleft()
        if edge.parent_id is None:
            out.append(Ancestor(edge.parent_ref, None, None, depth, via_dataset, None))
            continue
        if edge.parent_id in seen:
            continue
        seen.add(edge.parent_id)
        parent = session.get(Repo, edge.parent_id)
        if parent is None:
            continue
        card = lineage.card_at(hub, session, parent, edge.parent_commit)
        licence = catalogue().resolve(card)
        out.append(
            Ancestor(parent.repo_id, parent, edge.parent_commit, depth, via_dataset, licence)
        )
        if depth < MAX_DEPTH:
            for up in lineage.edges_of(session, parent.id):
                queue.append((up, depth + 1, via_dataset or up.relation == "dataset"))
    return out


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def findings_for(
    repo: Repo, own: CardLicence, ancestors: list[Ancestor], label: Callable[[Ancestor], str]
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    duties: set[tuple[str, str]] = set()

    def add(sev: str, anc: Ancestor | None, clause: str, message: str, lic: str = "") -> None:
        if anc is not None and anc.via_dataset and sev == "violation":
            sev = "warning"  # obligations of training data on models are contested: warn
        if not own.known and sev == "violation":
            sev = "warning"  # cannot tell whether an unknown licence complies
        found.append(
            {
                "severity": sev,
                "clause": clause,
                "ancestor": anc.ref if anc else None,
                "ancestor_id": anc.repo.id if anc and anc.repo else None,
                "ancestorCommit": anc.commit if anc else None,
                "license": lic or None,
                "message": message,
            }
        )

    if ancestors and not own.known:
        what = f"({own.declared})" if own.declared else "(none given)"
        add(
            "warning",
            None,
            "unknown-license",
            f"This repository's licence {what} is not in the catalogue, so its "
            "compliance with its ancestors' licences cannot be checked.",
        )
    for anc in ancestors:
        who = label(anc)
        if anc.repo is None:
            add(
                "notice",
                anc,
                "not-on-hub",
                f"{who} is not on this hub; its licence is not checked.",
            )
            continue
        assert anc.licence is not None
        if not anc.licence.known:
            what = anc.licence.declared or "none given"
            add(
                "warning",
                anc,
                "unknown-license",
                f"Ancestor {who} has a licence the catalogue does not know ({what}); "
                "its obligations cannot be checked.",
            )
            continue
        for lic in anc.licence.licences:
            name = f"{lic.name} ({lic.id})"
            if lic.derivatives == "forbidden":
                add(
                    "violation",
                    anc,
                    "no-derivatives",
                    f"Ancestor {who} is under {name}, which allows no derivatives.",
                    lic.id,
                )
            if lic.commercial == "forbidden" and own.commercial != "forbidden":
                add(
                    "violation",
                    anc,
                    "non-commercial",
                    f"Ancestor {who} is under {name}, which forbids commercial use; this "
                    f"repository's licence ({own.declared or 'none'}) must be non-commercial too.",
                    lic.id,
                )
            if lic.derivatives == "share-alike" and lic.id not in own.ids:
                add(
                    "violation",
                    anc,
                    "share-alike",
                    f"Ancestor {who} is under {name}, which is share-alike: derivatives must "
                    f"use {lic.id}, not {own.declared or 'none'}.",
                    lic.id,
                )
            missing = sorted(set(lic.restrictions) - own.restrictions) if lic.propagates else []
            if missing:
                add(
                    "violation",
                    anc,
                    "use-restrictions",
                    f"Ancestor {who} is under {name}, whose use restrictions must be passed on "
                    f"to every derivative; this repository's licence lacks: {', '.join(missing)}.",
                    lic.id,
                )
            if lic.naming and (lic.id, "naming") not in duties:
                duties.add((lic.id, "naming"))
                ok = _squash(repo.name).startswith(_squash(lic.naming))
                add(
                    "duty" if ok else "warning",
                    anc,
                    "naming",
                    f"{name}, via ancestor {who}: derived models' names must start with "
                    f"{lic.naming!r}" + ("." if ok else f"; {repo.name!r} does not."),
                    lic.id,
                )
            if lic.attribution and (lic.id, "attribution") not in duties:
                duties.add((lic.id, "attribution"))
                add(
                    "duty",
                    anc,
                    "attribution",
                    f"{name}, via ancestor {who}: {lic.attribution}.",
                    lic.id,
                )
            if lic.acceptance and (lic.id, "acceptance") not in duties:
                duties.add((lic.id, "acceptance"))
                add(
                    "duty",
                    anc,
                    "acceptance",
                    f"{name}, via ancestor {who}: users must accept its terms before use.",
                    lic.id,
                )
    return found


def policy_for(hub: Hub, session: Session, namespace: str) -> str:
    row = session.get(LicencePolicy, namespace)
    policy = row.policy if row is not None else hub.settings.licence_policy
    return policy if policy in POLICIES else "warn"


def set_policy(session: Session, namespace: str, policy: str) -> None:
    if policy not in POLICIES:
        raise HubError(f"The licence policy must be one of {', '.join(POLICIES)}.")
    row = session.get(LicencePolicy, namespace)
    if row is None:
        session.add(LicencePolicy(namespace=namespace, policy=policy))
    else:
        row.policy = policy


def run(
    hub: Hub,
    session: Session,
    repo: Repo,
    commit_oid: str,
    card: dict[str, Any],
    author: str,
    *,
    may_reject: bool = True,
) -> LicenceCheck:
    """Check ``repo``'s new card; raise LicenceViolation where the policy rejects
    (and ``may_reject``: a check after the commit landed records what it finds)."""
    committer = lineage.principal_of(session, author)

    def label(anc: Ancestor) -> str:
        if anc.repo is not None and not roles.can_read(session, committer, anc.repo):
            return "a private ancestor"
        return anc.ref

    own = catalogue().resolve(card)
    findings = findings_for(repo, own, ancestry(hub, session, repo), label)
    policy = policy_for(hub, session, repo.namespace)
    violations = [f["message"] for f in findings if f["severity"] == "violation"]
    clauses = sorted({f["clause"] for f in findings if f["severity"] == "violation"})
    if violations and policy == "reject" and may_reject:
        raise LicenceViolation(
            "Licence check failed (the licence policy of "
            f"{repo.namespace!r} is reject): " + " ".join(violations)
        )
    status = "warn" if any(f["severity"] in ("violation", "warning") for f in findings) else "pass"
    check = LicenceCheck(
        repo_id=repo.id,
        commit_oid=commit_oid,
        status=status,
        policy=policy,
        findings=json.dumps(findings),
    )
    session.add(check)
    if violations:
        hub.audit.record(
            session,
            audit.LicenceViolationsCommitted.of(
                repo,
                author,
                commit=commit_oid,
                clauses=tuple(clauses),
            ),
        )
    return check


def warning_header(check: LicenceCheck | None) -> str | None:
    """``X-HF-Warning`` for a commit: ``topic; message``, as huggingface_hub logs it.

    The topic names the commit because the client shows each topic only once.
    """
    if check is None or check.status != "warn":
        return None
    findings = json.loads(check.findings)
    worst = [f["message"] for f in findings if f["severity"] == "violation"] or [
        f["message"] for f in findings if f["severity"] == "warning"
    ]
    text = f"licence-check {check.commit_oid}; Licence check: " + " ".join(worst)
    text = text.replace("\r", " ").replace("\n", " ")
    return text.encode("latin-1", "replace").decode("latin-1")[:2000]
