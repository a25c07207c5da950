"""Byte counts as people read them."""

from __future__ import annotations


def human_size(n: int) -> str:
    """``532 B``, ``1.2 kB``, ``3.4 GB``: decimal units, one decimal from kB up."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"
