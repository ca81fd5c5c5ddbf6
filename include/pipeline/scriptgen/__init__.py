"""Scripts: use the request's own, or generate one from its topic."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.constants import ScriptSource
from pipeline.credentials import ApiKey
from pipeline.scriptgen.base import Script, ScriptProvider, ScriptScene
from pipeline.scriptgen.gemini import GeminiScript
from pipeline.scriptgen.given import GivenScript

__all__ = ["GeminiScript", "GivenScript", "Script", "ScriptProvider", "ScriptScene", "open_script_provider"]


def open_script_provider(settings: Settings, *, gemini: ApiKey | None = None) -> ScriptProvider:
    """The configured script generator (``given`` makes nothing: the request must bring its script)."""
    if settings.providers.script_provider == ScriptSource.GIVEN:
        return GivenScript()
    if settings.providers.script_provider == ScriptSource.GEMINI:
        if gemini is None:
            raise ValueError("the gemini script provider needs an API key")
        return GeminiScript(
            api_key=gemini.key,
            base_url=gemini.base_url,
            model=settings.providers.gemini_model,
            timeout_s=settings.providers.provider_timeout_s,
        )
    raise ValueError(f"unknown script provider {settings.providers.script_provider!r}")  # pragma: no cover
