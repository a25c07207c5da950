"""The licence catalogue and the licence check across three generations."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import httpx
import pytest
from huggingface_hub.errors import HfHubHTTPError

from modelcommons.governance.licenses import catalogue

from .conftest import Server
from .lineage_helpers import card, findings, fresh_user, lineage, push_card


@pytest.mark.parametrize(
    ("meta", "ids"),
    [
        ({"license": "apache-2.0"}, ("apache-2.0",)),
        ({"license": "Apache-2.0"}, ("apache-2.0",)),
        ({"license": "CC-BY-NC-4.0"}, ("cc-by-nc-4.0",)),
        ({"license": "MIT AND CC-BY-SA-4.0"}, ("mit", "cc-by-sa-4.0")),
        ({"license": "Apache-2.0 OR GPL-3.0-only"}, ("apache-2.0",)),
        ({"license": ["odbl", "cc-by-4.0"]}, ("odbl", "cc-by-4.0")),
        ({"license": "bigscience-openrail-m"}, ("bigscience-openrail-m",)),
        ({"license": "creativeml-openrail-m"}, ("creativeml-openrail-m",)),
        ({"license": "llama3.1"}, ("llama3.1",)),
        ({"license": "gemma"}, ("gemma",)),
        ({"license": "other", "license_name": "llama3"}, ("llama3",)),
        ({"license": "other", "license_name": "my-own-licence"}, ()),
        ({"license": "other"}, ()),
        ({"license": "wtfpl-ish"}, ()),
        ({"license": "MIT AND LicenseRef-mystery"}, ()),
        ({}, ()),
    ],
)
def test_catalogue_mapping(meta: dict[str, object], ids: tuple[str, ...]) -> None:
    resolved = catalogue().resolve(meta)
    assert resolved.ids == ids
    assert resolved.known is bool(ids)
    if not ids:
        assert resolved.commercial == "unknown"


def test_catalogue_obligations() -> None:
    cat = catalogue()
    llama3, llama31 = cat.by_id["llama3"], cat.by_id["llama3.1"]
    assert llama3.naming == "Llama 3" and llama31.naming == "Llama"
    assert "Built with Llama" in (llama31.attribution or "")
    assert llama31.acceptance and llama31.propagates
    rail = cat.by_id["bigscience-openrail-m"]
    creative = cat.by_id["creativeml-openrail-m"]
    assert set(creative.restrictions) < set(rail.restrictions)
    assert "impersonation-without-consent" in rail.restrictions
    assert cat.by_id["cc-by-nc-4.0"].commercial == "forbidden"
    assert cat.by_id["cc-by-nd-4.0"].derivatives == "forbidden"
    assert cat.by_id["cc-by-sa-4.0"].derivatives == "share-alike"
    for hf_id in ("bigscience-bloom-rail-1.0", "llama2", "llama3.2", "odc-by", "openrail"):
        assert hf_id in cat.by_id


def test_catalogue_ids_are_spdx_scancode_or_ours() -> None:
    from license_expression import get_spdx_licensing

    licensing = get_spdx_licensing()
    for lic in catalogue().by_id.values():
        # OpenMDW-1.0 is on the SPDX list (3.29) but newer than license-expression's index.
        if lic.spdx.startswith("LicenseRef-commons-") or lic.spdx == "OpenMDW-1.0":
            continue
        assert not licensing.validate(lic.spdx).errors, (lic.id, lic.spdx)


def test_card_licence_in_lineage_api(server: Server) -> None:
    user, api = fresh_user(server, "cat")
    push_card(api, f"{user}/known", license="other", license_name="llama3.1")
    push_card(api, f"{user}/unknown", license="other", license_name="house-terms-v2")
    known = lineage(server, f"{user}/known")["license"]
    assert known["status"] == "known"
    assert [lic["id"] for lic in known["licenses"]] == ["llama3.1"]
    unknown = lineage(server, f"{user}/unknown")["license"]
    assert unknown == {"declared": "other (house-terms-v2)", "status": "unknown", "licenses": []}


def _generations(
    server: Server, grand: dict[str, Any], parent: dict[str, Any]
) -> tuple[str, str, str, str]:
    """A grandparent and a parent (by one user); returns (user, grandparent, parent, token)."""
    user, api = fresh_user(server, "gen")
    gp, p = f"{user}/Llama-3-grand", f"{user}/Llama-3-parent"
    push_card(api, gp, **grand)
    push_card(api, p, base_model=gp, **parent)
    assert isinstance(api.token, str)
    return user, gp, p, api.token


def test_use_restrictions_propagate_across_three_generations(server: Server) -> None:
    _, gp, parent, _ = _generations(
        server, {"license": "bigscience-openrail-m"}, {"license": "bigscience-openrail-m"}
    )
    child_user, child_api = fresh_user(server, "kid")
    child = f"{child_user}/tuned"
    push_card(child_api, child, license="apache-2.0", base_model=parent)
    found = findings(server, child)
    grand = [f for f in found if f["ancestor"] == gp and f["clause"] == "use-restrictions"]
    assert len(grand) == 1 and grand[0]["severity"] == "violation"
    assert "impersonation-without-consent" in grand[0]["message"]
    assert "medical-advice" in grand[0]["message"]
    assert lineage(server, child)["licenseCheck"]["status"] == "warn"
    # Carrying the same RAIL licence satisfies the propagation duty.
    ok = f"{child_user}/compliant"
    push_card(child_api, ok, license="bigscience-openrail-m", base_model=parent)
    assert not [f for f in findings(server, ok) if f["severity"] == "violation"]


def test_llama_grandparent_names_its_duties(server: Server) -> None:
    _, gp, parent, _ = _generations(server, {"license": "llama3"}, {"license": "llama3"})
    child_user, child_api = fresh_user(server, "ll")
    child = f"{child_user}/my-chat-model"
    push_card(child_api, child, license="llama3", base_model=parent)
    found = findings(server, child)
    assert not [f for f in found if f["severity"] == "violation"]
    naming = [f for f in found if f["clause"] == "naming"]
    assert naming and naming[0]["severity"] == "warning" and "'Llama 3'" in naming[0]["message"]
    assert any(
        f["clause"] == "attribution" and "Built with Meta Llama 3" in f["message"] for f in found
    )
    assert any(f["clause"] == "acceptance" for f in found)
    # An apache-2.0 child of the same line must carry the Llama use restrictions on.
    bad = f"{child_user}/Llama-3-free"
    push_card(child_api, bad, license="apache-2.0", base_model=parent)
    restricted = [f for f in findings(server, bad) if f["clause"] == "use-restrictions"]
    assert {f["ancestor"] for f in restricted} == {gp, parent}
    assert all("meta-acceptable-use-policy" in f["message"] for f in restricted)


def _raw_commit(server: Server, token: str, repo_id: str, content: bytes) -> httpx.Response:
    lines = [
        {"key": "header", "value": {"summary": "card", "description": ""}},
        {
            "key": "file",
            "value": {
                "path": "README.md",
                "encoding": "base64",
                "content": base64.b64encode(content).decode(),
            },
        },
    ]
    return httpx.post(
        f"{server.url}/api/models/{repo_id}/commit/main",
        content="\n".join(json.dumps(line) for line in lines).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )


def test_non_commercial_grandparent_warns_then_rejects(server: Server) -> None:
    _, gp, parent, _ = _generations(
        server, {"license": "cc-by-nc-4.0"}, {"license": "cc-by-nc-4.0"}
    )
    child_user, child_api = fresh_user(server, "nc")
    child = f"{child_user}/commercial"
    child_api.create_repo(child)
    assert isinstance(child_api.token, str)
    # Policy "warn" (the default): the commit lands; the check runs after it (a
    # pipeline job), so the commit's answer has no verdict, and the findings follow.
    response = _raw_commit(
        server, child_api.token, child, card(license="apache-2.0", base_model=parent)
    )
    assert response.status_code == 200, response.text
    assert "X-HF-Warning" not in response.headers
    steps = {r["step"]: r for r in server.settle(child)}
    assert steps["licences"]["status"] == "done"
    assert steps["licences"]["commit"] == response.json()["commitOid"]
    check = lineage(server, child)["licenseCheck"]
    assert check["commit"] == response.json()["commitOid"] and check["policy"] == "warn"
    nc = [f for f in check["findings"] if f["clause"] == "non-commercial"]
    assert {f["ancestor"] for f in nc} == {gp, parent}
    audit = httpx.get(
        f"{server.url}/api/models/{child}/audit-log",
        headers={"Authorization": f"Bearer {child_api.token}"},
    ).json()
    committed = [e for e in audit if e["kind"] == "licence.violations_committed"]
    assert [e["data"] for e in committed] == [
        {"repo_id": child, "commit": check["commit"], "clauses": ["non-commercial"]}
    ]
    # Policy "reject" for the namespace: the same card is refused, naming the ancestor.
    server.cli("policy", "set", child_user, "reject")
    policy_events = httpx.get(
        f"{server.url}/api/audit-log/{child_user}",
        headers={"Authorization": f"Bearer {child_api.token}"},
    ).json()
    assert {"policy": "reject"} in [
        e["data"] for e in policy_events if e["kind"] == "licence.policy_set"
    ]
    assert server.cli("policy", "show", child_user).stdout.strip() == "reject"
    before = child_api.model_info(child).sha
    with pytest.raises(HfHubHTTPError) as exc:
        push_card(child_api, child, license="apache-2.0", base_model=parent, tags=["x"])
    assert exc.value.response.status_code == 422
    assert "non-commercial" in str(exc.value) and gp in str(exc.value)
    assert child_api.model_info(child).sha == before
    # A non-commercial child is accepted under the same policy.
    push_card(child_api, child, license="cc-by-nc-4.0", base_model=parent)
    assert lineage(server, child)["licenseCheck"]["status"] == "pass"


def test_client_logs_the_warning(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    """Under ``reject`` the check runs in the commit: a card that only warns (its own
    licence is unknown, so a non-commercial ancestry cannot be ruled a violation)
    lands, and the client logs the commit's X-HF-Warning."""
    _, gp, parent, _ = _generations(
        server, {"license": "cc-by-nc-4.0"}, {"license": "cc-by-nc-4.0"}
    )
    child_user, child_api = fresh_user(server, "log")
    server.cli("policy", "set", child_user, "reject")
    with caplog.at_level(logging.WARNING, logger="huggingface_hub"):
        push_card(
            child_api,
            f"{child_user}/logged",
            license="other",
            license_name="house-terms",
            base_model=parent,
        )
    logged = [r.getMessage() for r in caplog.records if "Licence check" in r.getMessage()]
    assert len(logged) == 1 and gp in logged[0] and "non-commercial" in logged[0]
    # Recorded like the background steps: done, once (in the commit's transaction).
    steps = server.settle(f"{child_user}/logged")
    assert {r["step"]: (r["status"], r["attempts"]) for r in steps} == {
        "search": ("done", 1),
        "lineage": ("done", 1),
        "licences": ("done", 1),
    }


def test_no_derivatives_grandparent_blocks(server: Server) -> None:
    _, gp, parent, _ = _generations(
        server, {"license": "cc-by-nd-4.0"}, {"license": "cc-by-nd-4.0"}
    )
    child_user, child_api = fresh_user(server, "nd")
    child = f"{child_user}/derived"
    push_card(child_api, child, license="cc-by-nd-4.0", base_model=parent)
    nd = [f for f in findings(server, child) if f["clause"] == "no-derivatives"]
    assert {f["ancestor"] for f in nd} == {gp, parent}
    assert all(f["severity"] == "violation" for f in nd)
    server.cli("policy", "set", child_user, "reject")
    with pytest.raises(HfHubHTTPError) as exc:
        push_card(child_api, f"{child_user}/derived-2", license="cc-by-nd-4.0", base_model=parent)
    assert "no derivatives" in str(exc.value)


def test_share_alike_and_unknown(server: Server) -> None:
    user, api = fresh_user(server, "sa")
    base = f"{user}/sa-base"
    push_card(api, base, license="cc-by-sa-4.0")
    push_card(api, f"{user}/sa-same", license="cc-by-sa-4.0", base_model=base)
    assert lineage(server, f"{user}/sa-same")["licenseCheck"]["status"] == "pass"
    push_card(api, f"{user}/sa-other", license="mit", base_model=base)
    assert [f["clause"] for f in findings(server, f"{user}/sa-other")] == [
        "share-alike",
        "attribution",
    ]
    # An unknown licence on either side is a warning, never a silent pass.
    push_card(api, f"{user}/mystery", license="other", license_name="house-terms", base_model=base)
    mystery = findings(server, f"{user}/mystery")
    assert mystery[0]["clause"] == "unknown-license" and mystery[0]["severity"] == "warning"
    assert all(f["severity"] != "violation" for f in mystery)
    push_card(api, f"{user}/unknown-base", license="other", license_name="house-terms")
    push_card(api, f"{user}/on-unknown", license="mit", base_model=f"{user}/unknown-base")
    found = findings(server, f"{user}/on-unknown")
    assert [(f["clause"], f["severity"]) for f in found] == [("unknown-license", "warning")]
    assert lineage(server, f"{user}/on-unknown")["licenseCheck"]["status"] == "warn"


def test_ancestry_cycles_terminate(server: Server) -> None:
    user, api = fresh_user(server, "cyc")
    a, b = f"{user}/a", f"{user}/b"
    push_card(api, a, license="mit")
    push_card(api, b, license="mit", base_model=a)
    push_card(api, a, license="mit", base_model=b)
    assert [f["ancestor"] for f in findings(server, a) if f["clause"] == "attribution"] == [b]
