"""Staged release plans, walked through GPT-2's real release on both backends.

GPT-2 was released in stages: 124M in February 2019, 355M in May, 774M in August
(to partners first) and 1.5B in November 2019. Tiny stand-ins play the four sizes;
downloads are checked with the real huggingface_hub client against `commons serve`.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError

from modelcommons.clock import FakeClock
from modelcommons.governance import releases
from modelcommons.hub import Hub
from modelcommons.settings import Settings

from .conftest import Server, needs_redis
from .test_gating import Person

SIZES = ("small", "medium", "large", "xl")


class World:
    """An owning org (two admins), a partner org, a member of the public."""

    def __init__(self, srv: Server) -> None:
        sfx = secrets.token_hex(3)
        self.srv = srv
        self.alice, self.bob, self.pat, self.pub = (
            f"{p}{sfx}" for p in ("alice", "bob", "pat", "pub")
        )
        self.tokens = {u: srv.user(u) for u in (self.alice, self.bob, self.pat, self.pub)}
        self.org, self.partners = f"lab{sfx}", f"partners{sfx}"
        srv.cli("org", "create", self.org, "--member", f"{self.alice}:admin", "--member",
                f"{self.bob}:admin")  # fmt: skip
        srv.cli("org", "create", self.partners, "--member", f"{self.pat}:read")
        self.repo = f"{self.org}/gpt2"
        self.api = HfApi(endpoint=srv.url, token=self.tokens[self.alice])
        self.api.create_repo(self.repo)
        self.api.upload_file(
            path_or_fileobj=b"# GPT-2\n\nA language model.\n",
            path_in_repo="README.md",
            repo_id=self.repo,
        )
        for size in SIZES:
            self.api.upload_file(
                path_or_fileobj=f"{size} weights".encode(),
                path_in_repo=f"{size}/model.bin",
                repo_id=self.repo,
            )

    def call(self, method: str, action: str = "", user: str | None = None, **body: Any) -> Any:
        url = f"{self.srv.url}/api/models/{self.repo}/release-plan"
        token = self.tokens[user or self.alice]
        return httpx.request(
            method,
            f"{url}/{action}" if action else url,
            json=body or None,
            headers={"Authorization": f"Bearer {token}"},
        )

    def download(self, user: str | None, size: str, tmp: Path, revision: str = "main") -> str:
        token: str | bool = self.tokens[user] if user else False
        path = hf_hub_download(
            self.repo,
            f"{size}/model.bin",
            revision=revision,
            token=token,
            cache_dir=tmp / secrets.token_hex(4),
            endpoint=self.srv.url,
        )
        return Path(path).read_text()

    def can(self, user: str | None, size: str, tmp: Path, revision: str = "main") -> bool:
        try:
            return self.download(user, size, tmp, revision) == f"{size} weights"
        except GatedRepoError as exc:
            assert "staged release" in exc.response.headers["X-Error-Message"]
            return False


def gpt2_plan(w: World) -> list[dict[str, Any]]:
    return [
        {
            "name": "124M",
            "audience": "public",
            "opens": {"files": ["small/*"]},
            "not_before": "2019-02-14",
        },
        {
            "name": "355M",
            "audience": "public",
            "opens": {"files": ["medium/*"]},
            "not_before": "2019-05-03",
        },
        {
            "name": "774M to partners",
            "audience": {"kind": "members", "orgs": [w.partners]},
            "opens": {"files": ["large/*"]},
            "not_before": "2019-08-20",
        },
        {
            "name": "1.5B",
            "audience": "public",
            "opens": {"files": ["large/*", "xl/*"]},
            "not_before": "2019-11-05",
            "conditions": {
                "approvals": {"count": 2, "role": "admin"},
                "card_sections": ["## Risks"],
            },
        },
    ]


def test_gpt2_release_walked_through(server: Server, tmp_path: Path, hf_env: None) -> None:
    w = World(server)
    # Only owners may set a plan.
    assert w.call("PUT", user=w.pub, stages=gpt2_plan(w)).status_code == 403
    r = w.call("PUT", stages=gpt2_plan(w), rationale="Staged release, as in 2019")
    assert r.status_code == 200, r.text

    # Before any stage: nothing controlled is downloadable outside the owners.
    assert not any(w.can(w.pub, s, tmp_path) for s in SIZES)
    with pytest.raises(GatedRepoError) as anon:
        w.download(None, "small", tmp_path)
    assert anon.value.response.status_code == 401
    assert all(w.can(w.alice, s, tmp_path) for s in SIZES)  # owners see everything
    public = HfApi(endpoint=server.url, token=w.tokens[w.pub])

    def weights(api: HfApi) -> list[str]:
        return sorted(f for f in api.list_repo_files(w.repo) if f.endswith(".bin"))

    assert weights(public) == []  # closed files are hidden from listings
    assert "xl/model.bin" in w.api.list_repo_files(w.repo)

    # Stage 1 (API) and stage 2 (CLI), both public.
    assert w.call("POST", "promote", rationale="124M: small enough").status_code == 200
    assert w.can(w.pub, "small", tmp_path) and w.can(None, "small", tmp_path)
    assert not w.can(w.pub, "medium", tmp_path)
    out = server.cli(
        "release", "promote", w.repo, "--actor", w.alice, "--rationale", "355M: no misuse seen"
    )
    assert "current stage: 355M" in out.stdout
    assert w.can(w.pub, "medium", tmp_path)
    assert weights(public) == ["medium/model.bin", "small/model.bin"]

    # Stage 3: partners first.
    assert w.call("POST", "promote", rationale="774M to partners").status_code == 200
    assert w.can(w.pat, "large", tmp_path)
    assert not w.can(w.pub, "large", tmp_path) and not w.can(w.pat, "xl", tmp_path)

    # Stage 4 needs two admin approvals and a Risks section in the card.
    r = w.call("POST", "promote", rationale="1.5B")
    assert r.status_code == 409
    assert "0 of 2 approvals" in r.json()["error"] and "## Risks" in r.json()["error"]
    assert w.call("POST", "approve", user=w.pub, rationale="please").status_code == 200
    assert w.call("POST", "approve", user=w.alice, rationale="ok").status_code == 200
    r = w.call("POST", "promote")
    assert r.status_code == 409 and "1 of 2 approvals" in r.json()["error"]
    assert w.call("POST", "approve", user=w.bob, rationale="ok").status_code == 200
    plan = w.call("GET", user=w.pub).json()
    nxt = {c["name"]: c["holds"] for c in plan["stages"][3]["conditionsStatus"]}
    assert nxt == {"date": True, "approvals": True, "card_sections": False}
    w.api.upload_file(
        path_or_fileobj=b"# GPT-2\n\n## Risks\n\nMisuse for disinformation.\n",
        path_in_repo="README.md",
        repo_id=w.repo,
    )
    assert w.call("POST", "promote", rationale="Full release").status_code == 200
    assert all(w.can(w.pub, s, tmp_path) for s in SIZES)
    assert w.call("POST", "promote").status_code == 409  # nothing left

    # The timeline: every decision with actor and rationale, public, and audited.
    plan = httpx.get(f"{server.url}/api/models/{w.repo}/release-plan").json()
    assert [d["action"] for d in plan["decisions"]] == [
        "plan",
        "promote",
        "promote",
        "promote",
        "approve",
        "approve",
        "approve",
        "promote",
    ]
    assert plan["decisions"][2]["actor"] == w.alice
    assert "355M: no misuse seen" in plan["decisions"][2]["rationale"]
    assert [s["state"] for s in plan["stages"]] == ["open"] * 4
    page = httpx.get(f"{server.url}/{w.repo}").text
    assert "Staged release" in page and "774M to partners" in page and "Full release" in page
    events = [
        json.loads(line)
        for line in server.cli("audit-log", "export").stdout.splitlines()
        if '"release.decided"' in line
    ]
    mine = [e for e in events if e["data"]["repo_id"] == w.repo]
    assert [e["data"]["action"] for e in mine] == [d["action"] for d in plan["decisions"]]
    assert mine[-1]["actor"] == w.alice and mine[-1]["data"]["stage_name"] == "1.5B"
    assert server.cli("audit-log", "verify", check=False).returncode == 0


def test_pause_and_rollback_revoke(server: Server, tmp_path: Path, hf_env: None) -> None:
    w = World(server)
    w.api.create_branch(w.repo, branch="xl-preview")
    stages = [
        {"name": "small", "audience": "public", "opens": {"files": ["small/*"]}},
        {
            "name": "partners",
            "audience": {"kind": "members", "orgs": [w.partners], "users": [w.pub]},
            "opens": {"files": ["large/*"], "branches": ["xl-preview"]},
        },
    ]
    assert w.call("PUT", stages=stages).status_code == 200
    assert w.call("POST", "promote", rationale="go").status_code == 200
    assert w.can(w.pub, "small", tmp_path)
    # A closed branch is closed whatever file is asked for.
    assert not w.can(w.pub, "small", tmp_path, revision="xl-preview")

    assert w.call("POST", "pause", user=w.pub).status_code == 403
    assert w.call("POST", "pause", rationale="misuse report").status_code == 200
    assert not w.can(w.pub, "small", tmp_path)
    assert w.call("POST", "promote").status_code == 409  # paused
    assert w.call("POST", "resume", rationale="report unfounded").status_code == 200
    assert w.can(w.pub, "small", tmp_path)

    assert w.call("POST", "promote", rationale="partners").status_code == 200
    assert w.can(w.pat, "large", tmp_path) and w.can(w.pub, "large", tmp_path)
    assert w.can(w.pat, "small", tmp_path, revision="xl-preview")
    out = server.cli("release", "rollback", w.repo, "--actor", w.alice, "--rationale", "leak")
    assert "current stage: small" in out.stdout
    assert not w.can(w.pat, "large", tmp_path)
    assert not w.can(w.pat, "small", tmp_path, revision="xl-preview")
    assert w.can(w.pub, "small", tmp_path)
    plan = w.call("GET").json()
    assert plan["status"] == "held" and plan["current"] == 0
    assert [(d["action"], d["rationale"]) for d in plan["decisions"][-3:]] == [
        ("resume", "report unfounded"),
        ("promote", "partners (no conditions)"),
        ("rollback", "leak"),
    ]
    # Ending the plan lifts every restriction.
    assert w.call("DELETE", rationale="done").status_code == 200
    assert w.can(w.pub, "xl", tmp_path)


def test_audiences_and_forced_promotion(
    sqlite_server: Server, tmp_path: Path, hf_env: None
) -> None:
    w = World(sqlite_server)
    stages = [
        {"name": "signed in", "audience": "gated", "opens": {"files": ["small/*"]}},
        {"name": "owners only", "audience": "owners", "opens": {"files": ["medium/*"]}},
        {
            "name": "named",
            "audience": {"kind": "members", "users": [w.pat]},
            "opens": {"tags": ["v-large"]},
            "conditions": {"card_sections": ["## Risks"]},
        },
    ]
    w.api.create_tag(w.repo, tag="v-large")
    assert w.call("PUT", stages=stages).status_code == 200
    assert w.call("POST", "promote").status_code == 200
    assert w.can(w.pub, "small", tmp_path)
    with pytest.raises(GatedRepoError) as anon:
        w.download(None, "small", tmp_path)
    assert anon.value.response.status_code == 401
    assert w.call("POST", "promote").status_code == 200
    assert not w.can(w.pub, "medium", tmp_path) and w.can(w.bob, "medium", tmp_path)
    # Conditions fail; an owner may force, and the record says so.
    assert w.call("POST", "promote").status_code == 409
    r = w.call("POST", "promote", force=True, rationale="card fix follows")
    assert r.status_code == 200
    last = r.json()["decisions"][-1]
    assert "forced despite: card lacks ## Risks" in last["rationale"]
    assert w.can(w.pat, "xl", tmp_path, revision="v-large")
    assert not w.can(w.pub, "xl", tmp_path, revision="v-large")
    # Pause then roll back: the paused stage is the one revoked, the earlier stay open.
    assert w.call("POST", "pause").status_code == 200
    assert w.call("POST", "rollback", rationale="retract").status_code == 200
    plan = w.call("GET").json()
    assert (plan["status"], plan["current"]) == ("held", 1)
    assert not w.can(w.pat, "xl", tmp_path, revision="v-large")
    assert w.can(w.pub, "small", tmp_path)


def test_approved_requesters_audience(sqlite_server: Server, tmp_path: Path, hf_env: None) -> None:
    """An "approved" stage opens files to users with an accepted access request."""
    w = World(sqlite_server)
    erin = Person(sqlite_server, f"erin{secrets.token_hex(3)}")
    w.tokens[erin.name] = erin.token
    w.api.update_repo_settings(w.repo, gated="auto")
    stages = [
        {"name": "requesters", "audience": "approved", "opens": {"files": ["small/*"]}},
        {"name": "later", "audience": "approved", "opens": {"files": ["medium/*"]}},
    ]
    assert w.call("PUT", stages=stages).status_code == 200
    assert w.call("POST", "promote").status_code == 200
    assert not w.can(erin.name, "small", tmp_path)  # no request yet
    assert erin.request(w.repo, {}).status_code == 303  # auto: accepted at once
    assert w.can(erin.name, "small", tmp_path)
    # Accepted, but medium waits for the next stage; xl is in no stage: the gate alone.
    assert not w.can(erin.name, "medium", tmp_path)
    assert w.can(erin.name, "xl", tmp_path)


def _hub_on(srv: Server, clock: FakeClock, **settings: Any) -> Hub:
    settings.setdefault("task_queue", "immediate")
    hub = Hub(
        Settings(data_dir=srv.data_dir, database_url=srv.pg.url if srv.pg else None, **settings)
    )
    hub.clock = clock
    return hub


def test_scheduler_promotes_when_due(server: Server, tmp_path: Path, hf_env: None) -> None:
    w = World(server)
    stages = [
        {
            "name": "124M",
            "audience": "public",
            "opens": {"files": ["small/*"]},
            "not_before": "2099-02-14T00:00:00Z",
            "auto": True,
        },
        {"name": "manual", "audience": "public", "opens": {"files": ["xl/*"]}},
    ]
    assert w.call("PUT", stages=stages).status_code == 200
    r = w.call("POST", "promote")
    assert r.status_code == 409 and "not before 2099-02-14" in r.json()["error"]

    clock = FakeClock(dt.datetime(2099, 2, 13, 23, 59))
    hub = _hub_on(server, clock)
    try:
        assert releases.schedule_due(hub) == 0
        assert not w.can(w.pub, "small", tmp_path)
        clock.current = dt.datetime(2099, 2, 14, 0, 1)
        assert releases.schedule_due(hub) == 1  # enqueued, run at once (immediate Huey)
        assert w.can(w.pub, "small", tmp_path)
        assert releases.schedule_due(hub) == 0  # the next stage is not automatic
    finally:
        hub.close()
    decision = w.call("GET").json()["decisions"][-1]
    assert decision["action"] == "promote" and decision["actor"] is None
    assert decision["at"].startswith("2099-02-14")


@needs_redis
def test_scheduler_on_redis(sqlite_server: Server, tmp_path: Path, hf_env: None) -> None:
    """The Redis backend: due promotions are queued in Redis and run by a worker."""
    w = World(sqlite_server)
    # Due for the fake clock only: the server's own scheduler, on the real clock,
    # must not promote the stage before the test's worker does.
    stages = [
        {
            "name": "124M",
            "opens": {"files": ["small/*"]},
            "auto": True,
            "not_before": "2029-06-01T00:00:00Z",
        }
    ]
    assert w.call("PUT", stages=stages).status_code == 200
    clock = FakeClock(dt.datetime(2030, 1, 1))
    hub = _hub_on(sqlite_server, clock, task_queue="redis", task_queue_name=f"t{w.org}")
    try:
        assert releases.schedule_due(hub) == 1
        assert hub.jobs.huey.pending_count() == 1
        assert not w.can(w.pub, "small", tmp_path)  # queued, not run yet
        task = hub.jobs.huey.dequeue()
        hub.jobs.huey.execute(task)  # what a consumer does
        assert w.can(w.pub, "small", tmp_path)
    finally:
        hub.jobs.huey.flush()
        hub.close()


def test_jobs_wait_for_commit(sqlite_server: Server) -> None:
    hub = _hub_on(sqlite_server, FakeClock(dt.datetime(2020, 1, 1)))
    ran: list[str] = []
    try:
        with hub.db.write() as session:
            hub.jobs.after_commit(session, lambda: ran.append("committed"))
            assert ran == []
        assert ran == ["committed"]
        with pytest.raises(RuntimeError), hub.db.write() as session:
            hub.jobs.after_commit(session, lambda: ran.append("rolled back"))
            raise RuntimeError("abort")
        assert ran == ["committed"]
    finally:
        hub.close()


def test_replacing_a_plan_keeps_what_is_open(server: Server, tmp_path: Path, hf_env: None) -> None:
    """A PUT may change the stages not yet opened and keeps the plan where it stands;
    changing or removing an opened stage is a 409 unless the caller restarts."""
    w = World(server)
    stages = gpt2_plan(w)
    assert w.call("PUT", stages=stages).status_code == 200
    assert w.call("POST", "promote").status_code == 200
    assert w.call("POST", "promote").status_code == 200
    assert w.call("POST", "approve", user=w.bob).status_code == 200  # stage 3, pending

    # A later stage edited: still at 355M, small and medium still public.
    stages[3]["not_before"] = "2019-11-06"
    r = w.call("PUT", stages=stages, rationale="one day later")
    assert r.status_code == 200, r.text
    plan = r.json()
    assert (plan["status"], plan["current"]) == ("active", 1)
    assert [s["state"] for s in plan["stages"]] == ["open", "open", "pending", "pending"]
    assert plan["stages"][3]["not_before"] == "2019-11-06T00:00:00"
    last = plan["decisions"][-1]
    assert last["action"] == "replace" and last["actor"] == w.alice
    assert last["rationale"] == 'one day later (plan replaced; kept at stage 2 ("355M"))'
    assert w.can(w.pub, "medium", tmp_path) and not w.can(w.pub, "large", tmp_path)

    # An opened stage changed or removed: refused, naming it; nothing changes.
    changed = gpt2_plan(w)
    changed[1]["opens"] = {"files": ["medium/*", "xl/*"]}
    r = w.call("PUT", stages=changed)
    assert r.status_code == 409
    assert 'stage 2 ("355M")' in r.json()["error"] and "changes its opens" in r.json()["error"]
    r = w.call("PUT", stages=gpt2_plan(w)[:1])
    assert r.status_code == 409
    assert 'stage 2 ("355M")' in r.json()["error"] and "removes it" in r.json()["error"]
    assert w.call("PUT", stages=changed, restart="yes").status_code == 400
    plan = w.call("GET").json()
    assert plan["current"] == 1 and plan["stages"][1]["opens"]["files"] == ["medium/*"]
    assert plan["decisions"][-1]["action"] == "replace"  # no decision for the refusals

    # The pending stage someone approved changes: the approval no longer counts.
    stages[2]["audience"] = {"kind": "members", "orgs": [w.partners], "users": [w.pub]}
    r = w.call("PUT", stages=stages)
    assert r.status_code == 200, r.text
    assert r.json()["decisions"][-1]["rationale"] == (
        'plan replaced; kept at stage 2 ("355M"); 1 approval withdrawn'
    )

    # Paused: a replacement leaves it paused (it does not quietly reopen stage 2).
    assert w.call("POST", "pause", rationale="misuse report").status_code == 200
    stages.append({"name": "tools", "audience": "public", "opens": {"tags": ["v-tools"]}})
    r = w.call("PUT", stages=stages)
    assert r.status_code == 200 and r.json()["status"] == "paused", r.text
    assert not w.can(w.pub, "medium", tmp_path) and w.can(w.pub, "small", tmp_path)

    # Restart: back before the first stage, active, and said so in the log.
    r = w.call("PUT", stages=changed, restart=True, rationale="new plan")
    assert r.status_code == 200, r.text
    plan = r.json()
    assert (plan["status"], plan["current"]) == ("active", -1)
    assert plan["stages"][1]["opens"]["files"] == ["medium/*", "xl/*"]
    last = plan["decisions"][-1]
    assert last["action"] == "restart" and last["stage"] == -1
    assert last["rationale"] == (
        'new plan (restarted before the first stage; stage 2 ("355M") had been opened)'
    )
    assert not w.can(w.pub, "small", tmp_path)

    # An ended plan is replaced by a fresh one, no restart needed.
    assert w.call("POST", "promote").status_code == 200
    assert w.call("DELETE", rationale="done").status_code == 200
    r = w.call("PUT", stages=changed)
    assert r.status_code == 200, r.text
    plan = r.json()
    assert (plan["status"], plan["current"]) == ("active", -1)
    assert plan["decisions"][-1]["action"] == "plan"
    assert [d["action"] for d in plan["decisions"]].count("end") == 1


def test_plan_validation_and_checks(sqlite_server: Server) -> None:
    w = World(sqlite_server)
    bad = w.call("PUT", stages=[{"audience": "everyone"}])
    assert bad.status_code == 400 and "audience kind" in bad.json()["error"]
    unknown = w.call("PUT", stages=[{"conditions": {"checks": ["scan_clean"]}}])
    assert unknown.status_code == 400 and "scan_clean" in unknown.json()["error"]

    @releases.register_check("always_no")
    def always_no(ctx: releases.CheckContext) -> tuple[bool, str]:
        return False, "never"

    assert "always_no" in releases.CHECKERS
    releases.CHECKERS.pop("always_no")
    assert w.call("GET").status_code == 404
