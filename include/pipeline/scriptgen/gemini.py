"""Scripts written by Google Gemini (``google-genai``) from a topic, as structured JSON.

The model must answer with the JSON schema of :class:`GeneratedScript`; the answer is validated before it is
used. The client makes exactly one attempt: retries are Airflow's, where operators see them.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import BaseModel, Field, ValidationError

from pipeline.constants import ScriptSource
from pipeline.errors import ProviderError, http_status_error
from pipeline.request import VideoRequest
from pipeline.scriptgen.base import Script, ScriptScene

try:  # google-genai talks through httpx2 (a fork of httpx) when it is installed, else httpx
    import httpx2

    _TIMEOUTS: tuple[type[Exception], ...] = (httpx.TimeoutException, httpx2.TimeoutException)
    _TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError, httpx2.TransportError)
except ImportError:  # pragma: no cover - depends on the installed set
    _TIMEOUTS, _TRANSPORT_ERRORS = (httpx.TimeoutException,), (httpx.TransportError,)

WORDS_PER_MINUTE = 150
PROMPT_VERSION = "v1"  # bump when the prompt or the schema changes: old cached scripts are then not reused

SYSTEM_INSTRUCTION = (
    "You write narration scripts for short explainer videos. Each scene is one or two spoken sentences "
    "(at most 40 words) and a concrete description of the single still image shown during it: subject, "
    "setting, composition, lighting. No camera directions in the narration, no text in the images, "
    "no names of living people. Answer only with JSON that matches the schema."
)


class GeneratedScript(BaseModel):
    """The response schema given to Gemini, and the validator of its answer."""

    title: str = Field(default="", max_length=300)
    scenes: list[ScriptScene] = Field(min_length=1, max_length=60)


class GeminiScript:
    """One ``generateContent`` call per distinct request (the caller caches the result by content hash)."""

    name = ScriptSource.GEMINI.value
    paid = True
    prompt_version = PROMPT_VERSION
    unit_kind = "tokens"

    def __init__(
        self,
        *,
        api_key: str,
        model: str = "gemini-2.5-flash",
        base_url: str | None = None,
        timeout_s: float = 120.0,
        temperature: float = 0.7,
    ) -> None:
        from google import genai
        from google.genai import types

        if not api_key:
            raise ProviderError(
                "no API key (the gemini_default connection's password)", provider=self.name, retryable=False
            )
        self.model = model
        self.temperature = temperature
        self._client = genai.Client(
            api_key=api_key,
            http_options=types.HttpOptions(
                base_url=base_url or None,
                api_version="v1beta",  # structured output (responseSchema) is a v1beta feature
                timeout=int(timeout_s * 1000),
                retry_options=types.HttpRetryOptions(attempts=1),  # no hidden retries
            ),
        )

    @staticmethod
    def prompt(request: VideoRequest) -> str:
        seconds = request.target_duration_s
        topic, tone, audience = ((text or "").strip() for text in (request.topic, request.tone, request.audience))
        lines = [
            f"Topic: {topic}",
            f"Video title: {request.title}",
            f"Length: about {seconds} seconds of narration (about {round(seconds * WORDS_PER_MINUTE / 60)} words), "
            f"in {max(1, round(seconds / 12))} scenes.",
        ]
        if tone:
            lines.append(f"Tone: {tone}")
        if audience:
            lines.append(f"Audience: {audience}")
        lines.append(f"Language of the narration: the language of the voice {request.voice!r}.")
        return "\n".join(lines)

    def write_script(self, request: VideoRequest) -> Script:
        from google.genai import errors, types

        if not (request.topic or "").strip():
            raise ProviderError("the request has no topic to write about", provider=self.name, retryable=False)
        config = types.GenerateContentConfig(
            system_instruction=SYSTEM_INSTRUCTION,
            response_mime_type="application/json",
            response_schema=GeneratedScript,
            temperature=self.temperature,
        )
        try:
            response = self._client.models.generate_content(
                model=self.model, contents=self.prompt(request), config=config
            )
        except errors.APIError as exc:
            raise _api_error(exc) from None
        except _TIMEOUTS:
            raise ProviderError("timed out waiting for Gemini", provider=self.name, retryable=True) from None
        except _TRANSPORT_ERRORS as exc:
            raise ProviderError(f"connection failed: {exc}", provider=self.name, retryable=True) from None
        except (errors.UnknownApiResponseError, ValueError) as exc:
            raise ProviderError(f"malformed response: {exc}", provider=self.name, retryable=False) from None
        generated = _parse(response)
        usage = response.usage_metadata
        tokens = float((usage.total_token_count or 0) if usage else 0)
        return Script.from_scenes(
            generated.scenes, source=self.name, model=self.model, units=tokens, unit_kind="tokens"
        )


def _parse(response: Any) -> GeneratedScript:
    feedback = getattr(response, "prompt_feedback", None)
    if feedback is not None and getattr(feedback, "block_reason", None):
        raise ProviderError(
            f"the prompt was blocked ({feedback.block_reason})", provider=ScriptSource.GEMINI, retryable=False
        )
    candidates = response.candidates or []
    if not candidates:
        raise ProviderError("malformed response: no candidates", provider=ScriptSource.GEMINI, retryable=False)
    reason = str(getattr(candidates[0], "finish_reason", "") or "")
    if reason and not reason.endswith("STOP"):
        raise ProviderError(f"generation stopped early ({reason})", provider=ScriptSource.GEMINI, retryable=False)
    try:
        text = response.text or ""
        return GeneratedScript.model_validate(json.loads(text))
    except (json.JSONDecodeError, ValidationError, TypeError) as exc:
        detail = str(exc).splitlines()[0][:300]
        raise ProviderError(
            f"malformed response: the script is not valid JSON of the schema ({detail})",
            provider=ScriptSource.GEMINI,
            retryable=False,
        ) from None


def _api_error(exc: Any) -> ProviderError:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    retry_after = headers.get("retry-after") if hasattr(headers, "get") else None
    if retry_after is None:
        retry_after = _retry_info_delay(exc.details)
    return http_status_error(ScriptSource.GEMINI, int(exc.code or 0), exc.message or str(exc), retry_after=retry_after)


def _retry_info_delay(details: Any) -> str | None:
    """``"37s"`` from google.rpc.RetryInfo in the error's details, as plain seconds."""
    try:
        for item in details.get("error", {}).get("details", []):
            if str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
                return str(item.get("retryDelay", "")).rstrip("s") or None
    except AttributeError:
        return None
    return None
