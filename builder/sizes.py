"""Byte sizes as people read them, the same everywhere (summary, refusals, messages)."""

from __future__ import annotations


def format_bytes(count: int) -> str:
    """`217.75 KB`: Keras 3's memory size (base 1024, two decimals, B to TB)."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024:
            return f"{value:.2f} {unit}"
        value /= 1024
    return f"{value:.2f} TB"
