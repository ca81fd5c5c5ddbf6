"""Names made safe as storage-key segments and folder names (imports nothing heavy: the DAG file uses it)."""

from __future__ import annotations

import re


def safe_name(text: str, *, limit: int = 120, fallback: str = "run") -> str:
    """``text`` as one storage-key segment or folder name: letters, digits, ``.``, ``_`` and ``-``, no leading or
    trailing dot or dash, at most ``limit`` characters (``fallback`` when nothing is left)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:limit] or fallback
