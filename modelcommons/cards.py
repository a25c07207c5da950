"""Model and dataset cards: README.md front matter and the tags derived from it."""

from __future__ import annotations

import re
from typing import Any

import yaml

from .errors import BadRequest

_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^---[ \t]*$", re.S | re.M)
MAX_CARD_BYTES = 1024 * 1024


def parse_front_matter(text: str) -> dict[str, Any]:
    """The YAML metadata block of a card, or ``{}``. Invalid YAML is a BadRequest."""
    match = _FRONT.match(text)
    if match is None:
        return {}
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise BadRequest(
            f"Invalid metadata in README.md: the YAML does not parse ({exc})."
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadRequest("Invalid metadata in README.md: the YAML block must be a mapping.")
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
