"""Model and dataset cards: README.md front matter and the tags derived from it."""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import BadRequest
from ..validation.untrusted_yaml import load_yaml

_FRONT = re.compile(r"\A(?:[ \t]*\r?\n)*---[ \t]*\r?\n(.*?)(?:\r?\n)?^---[ \t]*$", re.S | re.M)
MAX_CARD_BYTES = 1024 * 1024
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
