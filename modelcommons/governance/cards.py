"""Model and dataset cards: README.md front matter and the tags derived from it."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from ..errors import BadRequest
from ..validation.untrusted_yaml import load_yaml

#: Blank lines may come first, as the clients' own card parser allows.
_FRONT = re.compile(r"\A\s*^---[ \t]*\r?\n(.*?)(?:\r?\n)?^---[ \t]*$", re.S | re.M)
MAX_CARD_BYTES = 1024 * 1024

if TYPE_CHECKING:
    from ..storage.blobs import BlobStore
    from ..storage.trees import FileInfo


def card_text(blobs: BlobStore, info: FileInfo | None) -> str:
    """A stored README's text, or "" when there is none or it is over
    :data:`MAX_CARD_BYTES` (a card that large is not read as a card)."""
    if info is None or info.size > MAX_CARD_BYTES:
        return ""
    with blobs.open(info.sha256) as f:
        return bytes(f.read(MAX_CARD_BYTES)).decode("utf-8", "replace")


#: Bounds on a card's metadata (the YAML block of README.md), checked in
#: :func:`parse_front_matter`, so every reader of cards (commits, validate-yaml,
#: info at a revision, lineage, search) holds the same rule: nesting depth, and
#: the size of the metadata as JSON (what ``model_info`` returns as ``cardData``).
MAX_CARD_DEPTH = 32
MAX_CARD_JSON_BYTES = 256 * 1024
_WHAT = "Invalid metadata in README.md"


def parse_front_matter(text: str) -> dict[str, Any]:
    """The YAML metadata block of a card, or ``{}``.

    Invalid YAML, YAML anchors or aliases, nesting deeper than
    :data:`MAX_CARD_DEPTH` and metadata larger than :data:`MAX_CARD_JSON_BYTES`
    as JSON are each a BadRequest that says which."""
    match = _FRONT.match(text)
    if match is None:
        return {}
    data = load_yaml(match.group(1), what=_WHAT, max_depth=MAX_CARD_DEPTH)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadRequest(f"{_WHAT}: the YAML block must be a mapping.")
    try:
        size = len(json.dumps(data, default=str).encode())
    except TypeError as exc:  # a key JSON cannot hold, such as a date
        raise BadRequest(f"{_WHAT}: every key must be text or a number ({exc}).") from exc
    if size > MAX_CARD_JSON_BYTES:
        raise BadRequest(
            f"{_WHAT}: the metadata is {size} bytes as JSON; the limit is "
            f"{MAX_CARD_JSON_BYTES}. Move long text into the body of the card."
        )
    return data


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def derive_tags(card: dict[str, Any], kind: str) -> list[str]:
    """Tags in the Hub's style, used by ``list_models(filter=...)``."""
    tags: list[str] = []
    tags += _as_list(card.get("tags"))
    if kind == "model":
        tags += _as_list(card.get("library_name"))
        tags += _as_list(card.get("pipeline_tag"))
        tags += [f"dataset:{d}" for d in _as_list(card.get("datasets"))]
        tags += [f"base_model:{b}" for b in _as_list(card.get("base_model"))]
    else:
        for key in ("task_categories", "task_ids", "size_categories"):
            tags += [f"{key}:{v}" for v in _as_list(card.get(key))]
    languages = _as_list(card.get("language"))
    tags += languages
    if kind == "dataset":
        tags += [f"language:{lang}" for lang in languages]
    tags += [f"license:{lic}" for lic in _as_list(card.get("license"))]
    seen: dict[str, None] = {}
    for tag in tags:
        if tag and len(tag) <= 200 and " " not in tag:
            seen.setdefault(tag, None)
    return list(seen)


def library_of(card: dict[str, Any], names: set[str]) -> str | None:
    """The framework a repository's files are for: the card's ``library_name`` first,
    else, from the top-level file ``names``, Keras (a ``.keras`` archive, or the folder
    Keras saves to ``hf://``) or TensorFlow (``saved_model.pb``, ``tf_model.h5``)."""
    declared = card.get("library_name")
    if isinstance(declared, str) and declared:
        return declared
    if any(n.endswith(".keras") for n in names) or names >= KERAS_FOLDER:
        return "keras"
    if names & TENSORFLOW_FILES:
        return "tensorflow"
    return None


#: What ``keras.saving.save_model(model, "hf://...")`` writes at the top level.
KERAS_FOLDER = frozenset({"config.json", "metadata.json", "model.weights.h5"})
TENSORFLOW_FILES = frozenset({"saved_model.pb", "saved_model.pbtxt", "tf_model.h5"})


#: The warning the Hugging Face Hub gives for a card without metadata.
NO_METADATA = "Empty or missing yaml metadata in repo card"


def check_card(text: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) for a card, as ``POST /api/validate-yaml`` answers them: the
    front matter's own errors, then the shape of ``model-index`` (the evaluation results
    the Hub reads); a card without metadata is a warning, not an error."""
    try:
        card = parse_front_matter(text)
    except BadRequest as exc:
        return [exc.message], []
    if not card:
        return [], [NO_METADATA]
    errors = _model_index_errors(card["model-index"]) if "model-index" in card else []
    return errors, []


def _model_index_errors(index: object) -> list[str]:
    where = '"model-index"'
    if not isinstance(index, list):
        return [f"{where} must be an array of models"]
    errors: list[str] = []
    for i, model in enumerate(index):
        at = f"{where}[{i}]"
        if not isinstance(model, dict):
            errors.append(f"{at} must be an object")
            continue
        if not isinstance(model.get("name"), str):
            errors.append(f"{at}.name is required and must be a string")
        results = model.get("results")
        if not isinstance(results, list):
            errors.append(f"{at}.results is required and must be an array")
            continue
        for j, result in enumerate(results):
            errors += _result_errors(f"{at}.results[{j}]", result)
    return errors


def _result_errors(at: str, result: object) -> list[str]:
    if not isinstance(result, dict):
        return [f"{at} must be an object"]
    errors: list[str] = []
    task = result.get("task")
    if not isinstance(task, dict) or not isinstance(task.get("type"), str):
        errors.append(f"{at}.task.type is required and must be a string")
    dataset = result.get("dataset")  # optional; when given, typed and named
    if dataset is not None and (
        not isinstance(dataset, dict)
        or not isinstance(dataset.get("type"), str)
        or not isinstance(dataset.get("name"), str)
    ):
        errors.append(f"{at}.dataset must have a string type and name")
    metrics = result.get("metrics")
    if not isinstance(metrics, list):
        return [*errors, f"{at}.metrics is required and must be an array"]
    for k, metric in enumerate(metrics):
        if not isinstance(metric, dict) or not isinstance(metric.get("type"), str):
            errors.append(f"{at}.metrics[{k}].type is required and must be a string")
        elif "value" not in metric:
            errors.append(f"{at}.metrics[{k}].value is required")
    return errors
