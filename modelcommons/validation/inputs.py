"""Untrusted request input read within bounds: JSON documents and integers.

Every JSON body and every integer a request carries (query parameters such as
``p``, ``offset``, ``limit`` and ``cursor``, JSON fields such as a preupload's
``size``) is read through here, so that hostile values (nesting a thousand
levels deep, ``NaN``, numbers of a thousand digits, negative pages, a string
where a number belongs) are a 400 in the one error shape, never a 500 from a
``RecursionError``, an ``OverflowError`` in the database driver or a
``ValueError`` from ``islice``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..errors import BadRequest

#: Nesting deeper than this is refused in any JSON document a request carries.
MAX_JSON_DEPTH = 64
#: The largest page number, offset or cursor a query may carry: well inside what
#: ``islice`` and every database's LIMIT/OFFSET take, and more than any listing holds.
MAX_OFFSET = 1_000_000_000
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads_json(raw: bytes | str, what: str = "The request body") -> Any:
    """Parse a JSON document, refusing invalid text, ``NaN``/``Infinity``, nesting
    deeper than :data:`MAX_JSON_DEPTH` and NUL characters in strings with a
    :class:`BadRequest` naming ``what``."""
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise BadRequest(f"{what} is nested too deeply.") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the constants
        raise BadRequest(f"{what} is not JSON: {exc}.") from exc
    _check_tree(data, what)
    return data


def _check_tree(value: Any, what: str) -> None:
    """Walk ``value`` without recursion: refuse nesting past :data:`MAX_JSON_DEPTH`
    and strings holding NUL (which PostgreSQL text cannot store), saying where."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, str):
            check_text(item, f"{what} (at {where.lstrip('.') or 'the top'})")
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise BadRequest(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep.")
            if isinstance(item, dict):
                for key, child in item.items():
                    stack.append((key, depth, f"{where}.{key!r}"[:200]))
                    stack.append((child, depth + 1, f"{where}.{key}"[:200]))
            else:
                stack.extend((child, depth + 1, f"{where}[{i}]") for i, child in enumerate(item))


def check_text(value: str, what: str) -> str:
    """``value``, unless it holds a NUL character: no name, path, revision, message or
    search has one, and PostgreSQL cannot store it (it would be a 500)."""
    if "\x00" in value:
        raise BadRequest(f"{what} may not contain a NUL character.")
    return value


def json_int(value: object, what: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    """A JSON number that must be a whole number in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{what} must be an integer, not {type(value).__name__}.")
    return _within(value, what, minimum, maximum)


def query_int(
    query: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int = 0,
    maximum: int = MAX_OFFSET,
) -> int:
    """The integer query parameter ``name`` (``default`` when absent or empty)."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    return parse_int(raw, f"'{name}'", minimum=minimum, maximum=maximum)


def parse_int(raw: str, what: str, *, minimum: int = 0, maximum: int = MAX_OFFSET) -> int:
    """Decimal text that must be an integer in ``[minimum, maximum]``."""
    if not _INTEGER.fullmatch(raw.strip()):
        raise BadRequest(f"{what} must be an integer from {minimum} to {maximum}.")
    return _within(int(raw), what, minimum, maximum)


def _within(value: int, what: str, minimum: int, maximum: int | None) -> int:
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" to {maximum}" if maximum is not None else " or more"
        raise BadRequest(f"{what} must be an integer from {minimum}{upper}.")
    return value
