"""Scripts: use the request's own, or generate one from its topic."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.scriptgen.base import ScriptProvider
from pipeline.scriptgen.given import GivenScript

__all__ = ["GivenScript", "ScriptProvider", "open_script_provider"]


def open_script_provider(settings: Settings) -> ScriptProvider:
    if settings.script_provider == "given":
        return GivenScript()
    raise ValueError(f"unknown script provider {settings.script_provider!r}")  # pragma: no cover
