"""A bill of materials per revision: CycloneDX 1.6 ML-BOM (JSON).

The repository is the BOM's subject, a ``machine-learning-model`` component (``data``
for a dataset) named by its package URL pinned to the commit
(``pkg:huggingface/NS/NAME@COMMIT``), carrying

- the card's model-card fields (``modelCard``: task, library, architecture, the
  datasets it names, the metrics of its ``model-index``, the uses and limitations
  its sections state),
- the licence as an SPDX expression where the catalogue maps it (``LicenseRef-``
  ids where SPDX has none), else by name,
- its lineage parents (:mod:`modelcommons.governance.lineage`), each pinned to the
  commit it was built from: base models under ``pedigree.ancestors``, datasets as
  ``data`` components the model card refers to. Lineage is a background pipeline
  step, so a bill asked for just after a card commit may predate it: the property
  ``modelcommons:lineage:status`` says ``pending`` then (ask again), else ``current``,
- its signature state (:mod:`.signatures`) and scan results, as properties.

Every file the caller may list is a ``file`` component with its sha256. The
library ``cyclonedx-python-lib`` does not model ``modelCard`` yet, so the document
is written here as JSON and the tests validate it against the official schema with
that library's validator.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..accounts import Principal
from ..db.pipeline_tables import PipelineStep
from ..db.schema import Repo
from ..errors import HubError
from ..governance import lineage
from ..governance.cards import card_text
from ..governance.content import RevisionContent
from ..governance.licenses import catalogue
from ..scanning import results as scan_statuses
from ..validation.inputs import loads_json
from .signatures import revision_files, verify_revision

if TYPE_CHECKING:
    from ..hub import Hub

SPEC = "1.6"
_SECTIONS = {
    "useCases": ("uses", "direct use", "intended uses", "intended use", "downstream use"),
    "technicalLimitations": (
        "bias, risks, and limitations",
        "limitations",
        "risks and limitations",
        "out-of-scope use",
    ),
    "users": ("intended users", "who can use this"),
}
_MAX_TEXT = 4000
_HEADING = re.compile(r"^(#{1,4})\s+(.+?)\s*#*\s*$")


def scan_results(
    session: Session, repo: Repo, commit: str, files: dict[str, Any]
) -> list[dict[str, Any]]:
    """Scan results per file at a commit, from the commit pipeline's scanners
    (:mod:`modelcommons.scanning.results`): ``[{"path", "status", "findings"}]``;
    ``files`` maps each path to its stored file (``sha256``, ``size``)."""
    statuses = scan_statuses.statuses_of(
        session, repo, commit, ((path, info.sha256, info.size) for path, info in files.items())
    )
    return [
        {
            "path": status.path,
            "status": status.status,
            "findings": [finding.message for finding in status.findings],
        }
        for status in statuses.values()
    ]


def purl(repo: Repo, commit: str | None) -> str:
    base = f"pkg:huggingface/{repo.namespace}/{repo.name}"
    return f"{base}@{commit}" if commit else base


def _purl_ref(kind: str, ref: str, commit: str | None) -> str:
    ns, _, name = ref.partition("/")
    base = f"pkg:huggingface/{ns}/{name}" if name else f"pkg:huggingface/{ns}"
    qualifier = "?repository_type=dataset" if kind == "dataset" else ""
    return (f"{base}@{commit}" if commit else base) + qualifier


def licences(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The card's licence: an SPDX expression when the catalogue maps every part."""
    resolved = catalogue().resolve(card)
    if resolved.known:
        ids = sorted({lic.spdx for lic in resolved.licences})
        return [{"expression": " AND ".join(ids)}]
    if resolved.declared:
        return [{"license": {"name": resolved.declared[:200]}}]
    return []


def sections(readme: str) -> dict[str, list[str]]:
    """The card's considerations, from the body's headed sections."""
    found: dict[str, list[str]] = {}
    readme = readme.lstrip()
    body = readme.split("\n---", 2)[-1] if readme.startswith("---") else readme
    current: str | None = None
    level = 0
    text: list[str] = []

    def close() -> None:
        content = "\n".join(text).strip()
        if current and content and not content.startswith("[More Information Needed]"):
            found.setdefault(current, []).append(content[:_MAX_TEXT])

    for line in body.splitlines():
        match = _HEADING.match(line)
        if match:
            depth, title = len(match.group(1)), match.group(2).strip().lower()
            key = next((k for k, names in _SECTIONS.items() if title in names), None)
            if key or (current and depth <= level):
                close()
                current, level, text = (key, depth, []) if key else (None, 0, [])
                continue
        if current:
            text.append(line)
    close()
    return found


def _metrics(card: dict[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    index = card.get("model-index")
    for model in index if isinstance(index, list) else []:
        results = model.get("results") if isinstance(model, dict) else None
        for result in results if isinstance(results, list) else []:
            if not isinstance(result, dict):
                continue
            found = result.get("dataset")
            dataset: dict[str, Any] = found if isinstance(found, dict) else {}
            for metric in result.get("metrics") or []:
                if isinstance(metric, dict) and metric.get("value") is not None:
                    entry = {
                        "type": str(metric.get("type") or metric.get("name") or "metric"),
                        "value": str(metric["value"]),
                    }
                    if dataset.get("name") or dataset.get("type"):
                        entry["slice"] = str(dataset.get("name") or dataset.get("type"))
                    out.append(entry)
    return out[:200]


def _readme(hub: Hub, at: RevisionContent, files: dict[str, Any]) -> str:
    info = files.get("README.md")
    if info is None or info.lfs or not at.downloadable("README.md"):
        return ""
    return card_text(hub.blobs, info)


def _config(hub: Hub, at: RevisionContent, files: dict[str, Any]) -> dict[str, Any]:
    """``model_type`` and the first of ``architectures`` from a small config.json."""
    info = files.get("config.json")
    if info is None or info.lfs or info.size > 256 * 1024 or not at.downloadable("config.json"):
        return {}
    with hub.blobs.open(info.sha256) as f:
        raw = f.read(256 * 1024)
    try:
        config = loads_json(raw)
    except HubError:
        return {}
    if not isinstance(config, dict):
        return {}
    arch = config.get("architectures")
    return {
        "model_type": config.get("model_type"),
        "architecture": arch[0] if isinstance(arch, list) and arch else None,
    }


def cyclonedx(
    session: Session,
    hub: Hub,
    principal: Principal | None,
    repo: Repo,
    at: RevisionContent,
    *,
    base_url: str,
) -> dict[str, Any]:
    """The CycloneDX 1.6 document for ``repo`` at an open revision, as the caller may
    see it: files the caller may not list are left out."""
    sha = at.sha
    files = revision_files(session, hub, at.commit)
    # The card at this revision, when the caller may read it there.
    card = lineage.card_at(hub, session, repo, sha) if at.downloadable("README.md") else {}
    readme = _readme(hub, at, files)
    main_ref = purl(repo, sha)
    prefix = "datasets/" if repo.kind == "dataset" else ""
    page = f"{base_url}/{prefix}{repo.repo_id}"

    components: list[dict[str, Any]] = []
    listed = {path: info for path, info in files.items() if at.listable(path)}
    scanned = scan_results(session, repo, sha, listed)
    scans = {r.get("path"): r for r in scanned}
    for path, info in sorted(files.items()):
        if not at.listable(path):
            continue
        props = [{"name": "modelcommons:size", "value": str(info.size)}]
        props.append({"name": "modelcommons:lfs", "value": "true" if info.lfs else "false"})
        scan = scans.get(path)
        if scan is not None:
            props.append({"name": "modelcommons:scan:status", "value": str(scan.get("status"))})
        components.append(
            {
                "type": "file",
                "bom-ref": f"{main_ref}#{path}",
                "name": path,
                "hashes": [{"alg": "SHA-256", "content": info.sha256}],
                "properties": props,
            }
        )

    ancestors: list[dict[str, Any]] = []
    data_refs: list[dict[str, str]] = []
    view = lineage.view(session, principal, repo)
    for parent in view["parents"]:
        ref = _purl_ref(parent["type"], parent["id"], parent["commit"])
        entry: dict[str, Any] = {
            "type": "data" if parent["type"] == "dataset" else "machine-learning-model",
            "bom-ref": ref,
            "name": parent["id"],
            "purl": ref,
            "properties": [
                {"name": "modelcommons:relation", "value": parent["relation"]},
                {"name": "modelcommons:resolved", "value": str(parent["resolved"]).lower()},
            ],
        }
        if parent["commit"]:
            entry["version"] = parent["commit"]
        if parent["url"]:
            entry["externalReferences"] = [{"type": "website", "url": base_url + parent["url"]}]
        if parent["type"] == "dataset":
            components.append(entry)
            data_refs.append({"ref": ref})
        else:
            ancestors.append(entry)

    state = verify_revision(session, hub, repo, sha)
    properties = [
        {"name": "modelcommons:signature:status", "value": state.status},
        {"name": "modelcommons:signature:summary", "value": state.summary},
    ]
    if state.signer:
        properties.append({"name": "modelcommons:signature:signer", "value": state.signer})
    if state.key:
        properties.append({"name": "modelcommons:signature:key", "value": state.key})
    unsafe = sum(1 for r in scanned if r.get("status") == "unsafe")
    properties.append({"name": "modelcommons:scan:files", "value": str(len(scanned))})
    properties.append({"name": "modelcommons:scan:unsafe", "value": str(unsafe)})
    properties.append(
        {"name": "modelcommons:lineage:status", "value": _lineage_status(session, repo)}
    )
    for key in ("library_name", "pipeline_tag", "language"):
        value = card.get(key)
        if isinstance(value, str | int | float | list):
            text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            properties.append({"name": f"huggingface:{key}", "value": text[:500]})

    subject: dict[str, Any] = {
        "type": "data" if repo.kind == "dataset" else "machine-learning-model",
        "bom-ref": main_ref,
        "group": repo.namespace,
        "name": repo.name,
        "version": sha,
        "purl": main_ref,
        "externalReferences": [{"type": "website", "url": page}],
        "properties": properties,
    }
    description = card.get("description") or card.get("pretty_name")
    if isinstance(description, str):
        subject["description"] = description[:_MAX_TEXT]
    licence = licences(card)
    if licence:
        subject["licenses"] = licence
    if ancestors:
        subject["pedigree"] = {"ancestors": ancestors}
    if repo.kind == "model":
        subject["modelCard"] = _model_card(card, _config(hub, at, files), readme, data_refs)

    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC,
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, page + '@' + sha)}",
        "version": 1,
        "metadata": {
            "timestamp": at.commit.created_at.replace(microsecond=0).isoformat() + "Z",
            "tools": {
                "components": [{"type": "application", "name": "Model Commons"}],
            },
            "component": subject,
        },
        "components": components,
        "dependencies": [
            {"ref": main_ref, "dependsOn": sorted({c["bom-ref"] for c in components})},
        ],
    }


def _lineage_status(session: Session, repo: Repo) -> str:
    """``pending`` while a lineage step of the repository waits or runs (the parents
    above may be about to change), else ``current``."""
    waiting = session.scalar(
        select(PipelineStep.commit_oid)
        .where(
            PipelineStep.repo_id == repo.id,
            PipelineStep.step == "lineage",
            PipelineStep.status.in_(("queued", "running")),
        )
        .limit(1)
    )
    return "pending" if waiting is not None else "current"


def _model_card(
    card: dict[str, Any], config: dict[str, Any], readme: str, data_refs: list[dict[str, str]]
) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    if isinstance(card.get("pipeline_tag"), str):
        parameters["task"] = card["pipeline_tag"]
    for key, field in (("model_type", "architectureFamily"), ("architecture", "modelArchitecture")):
        if isinstance(config.get(key), str):
            parameters[field] = config[key]
    if data_refs:
        parameters["datasets"] = data_refs
    model_card: dict[str, Any] = {"modelParameters": parameters}
    metrics = _metrics(card)
    if metrics:
        model_card["quantitativeAnalysis"] = {"performanceMetrics": metrics}
    considerations = sections(readme)
    if considerations:
        model_card["considerations"] = considerations
    return model_card
