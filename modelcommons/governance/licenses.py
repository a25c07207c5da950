"""The licence catalogue (package data) and how a card's licence maps onto it.

A card names its licence with ``license`` (an HF id, an SPDX id or an SPDX expression;
datasets may give a list), or ``license: other`` plus ``license_name``. Whatever does not
map onto the catalogue is *unknown*: shown as such and never treated as permissive.
"""

from __future__ import annotations

import dataclasses
import functools
from importlib import resources
from typing import Any

import yaml

UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class Licence:
    id: str
    name: str
    spdx: str
    family: str
    commercial: str = "allowed"  # allowed | forbidden | conditional
    derivatives: str = "allowed"  # allowed | forbidden | share-alike
    restrictions: tuple[str, ...] = ()
    propagates: bool = False
    naming: str | None = None
    attribution: str | None = None
    acceptance: bool = False

    def as_json(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["restrictions"] = list(self.restrictions)
        return doc


@dataclasses.dataclass(frozen=True)
class CardLicence:
    """What a card's licence keys resolve to: every licence that applies, or unknown."""

    declared: str
    licences: tuple[Licence, ...]

    @property
    def known(self) -> bool:
        return bool(self.licences)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(lic.id for lic in self.licences)

    @property
    def restrictions(self) -> frozenset[str]:
        return frozenset(r for lic in self.licences for r in lic.restrictions)

    @property
    def commercial(self) -> str:
        values = {lic.commercial for lic in self.licences}
        for level in ("forbidden", "conditional"):
            if level in values:
                return level
        return "allowed" if values else UNKNOWN

    def as_json(self) -> dict[str, Any]:
        return {
            "declared": self.declared,
            "status": "known" if self.known else UNKNOWN,
            "licenses": [lic.as_json() for lic in self.licences],
        }


class Catalogue:
    def __init__(self, entries: dict[str, dict[str, Any]]) -> None:
        self.by_id: dict[str, Licence] = {}
        self._lookup: dict[str, Licence] = {}
        for key, raw in entries.items():
            fields = {k: v for k, v in raw.items() if k != "aliases"}
            fields["restrictions"] = tuple(fields.get("restrictions") or ())
            lic = Licence(id=key, **fields)
            self.by_id[key] = lic
            for name in (key, lic.spdx, *(raw.get("aliases") or ())):
                self._lookup.setdefault(str(name).lower(), lic)

    def get(self, name: str) -> Licence | None:
        return self._lookup.get(name.strip().lower())

    def resolve(self, card: dict[str, Any]) -> CardLicence:
        """Map a card's ``license`` (+ ``license_name`` for ``other``) onto the catalogue."""
        value = card.get("license")
        values = [str(v) for v in value] if isinstance(value, list) else []
        if not isinstance(value, list):
            values = [str(value)] if value is not None else []
        declared = " AND ".join(values)
        if not values:
            return CardLicence("", ())
        found: list[Licence] = []
        for item in values:
            if item.strip().lower() == "other":
                name = card.get("license_name")
                lic = self.get(str(name)) if isinstance(name, str) else None
                declared = declared.replace(item, f"other ({name or 'unnamed'})")
                if lic is None:
                    return CardLicence(declared, ())
                found.append(lic)
                continue
            licences = self._expression(item)
            if not licences:
                return CardLicence(declared, ())
            found.extend(licences)
        unique = {lic.id: lic for lic in found}
        return CardLicence(declared, tuple(unique.values()))

    def _expression(self, text: str) -> list[Licence]:
        """An id, or an SPDX expression: AND means all apply; OR picks the freest option."""
        direct = self.get(text)
        if direct is not None:
            return [direct]
        if not any(op in f" {text.upper()} " for op in (" AND ", " OR ", " WITH ", "(")):
            return []
        try:
            parsed = _spdx().parse(text, validate=False)
        except Exception:  # license-expression raises several unrelated types
            return []
        return self._node(parsed)

    def _node(self, node: Any) -> list[Licence]:
        if hasattr(node, "key"):
            lic = self.get(str(node.key))
            return [lic] if lic else []
        operator = str(getattr(node, "operator", "")).strip().upper()
        parts = [self._node(arg) for arg in getattr(node, "args", ())]
        if any(not p for p in parts) or not parts:
            return []
        if operator == "OR":
            return min(parts, key=_burden)
        return [lic for part in parts for lic in part]


def _burden(licences: list[Licence]) -> tuple[int, int]:
    weight = {"allowed": 0, "conditional": 1, "share-alike": 1, "forbidden": 2}
    score = sum(weight[lic.commercial] + weight[lic.derivatives] for lic in licences)
    return score, sum(len(lic.restrictions) for lic in licences)


@functools.cache
def _spdx() -> Any:
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


@functools.cache
def catalogue() -> Catalogue:
    text = resources.files("modelcommons").joinpath("data/licenses.yaml").read_text()
    data = yaml.safe_load(text)
    return Catalogue(data["licenses"])
