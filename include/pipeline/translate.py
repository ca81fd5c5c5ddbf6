"""A video's other languages: its scenes' narration and its title translated scene by scene, so every version
shows the same pictures in the same order (no extra image or footage call for a second or third language).

Gemini translates with a response schema (one text per scene, the same number back, validated); each answer is
stored under the hash of the texts, the title, the language and the model (``translations/…json``), so a retry,
a re-run or another video with the same scenes asks nothing again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from pipeline.assets import ContentLock, FailedCallSink, ProviderCall, ledgered, no_lock, no_sink, recorder
from pipeline.errors import ProviderError
from pipeline.storage.base import Storage, content_hash, content_key

PROMPT_VERSION = "t1"
LANGUAGE_NAMES = {
    "ar": "Arabic", "bg": "Bulgarian", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian",
    "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean", "nl": "Dutch", "no": "Norwegian",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sv": "Swedish", "th": "Thai",
    "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code.split("-", maxsplit=1)[0].lower(), code)


class Translated(BaseModel):
    """The response schema given to the model, and the validator of its answer."""

    title: str = Field(min_length=1, max_length=300)
    scenes: list[str] = Field(min_length=1, max_length=200)


@dataclass(frozen=True)
class Translation:
    title: str
    texts: tuple[str, ...]


class Translator(Protocol):
    name: str
    model: str
    unit_kind: str

    def translate(self, *, title: str, texts: Sequence[str], language: str) -> tuple[Translated, float]:
        """The title and each text in ``language`` (the same number of texts), and the units it cost."""
        ...


def translate_video(
    *,
    title: str,
    texts: Sequence[str],
    language: str,
    translator: Translator,
    storage: Storage,
    lock: ContentLock = no_lock,
    on_failed_call: FailedCallSink = no_sink,
) -> tuple[Translation, ProviderCall]:
    """``title`` and ``texts`` in ``language``, from storage when translated before; one ledger line."""
    digest = content_hash(
        kind="translation",
        provider=translator.name,
        model=translator.model,
        prompt_version=PROMPT_VERSION,
        title=title,
        texts=list(texts),
        language=language,
    )
    key = content_key("translations", digest, "json")
    started = time.monotonic()

    record = recorder(translator.name, model=translator.model, operation="translate", digest=digest, started=started)

    def call(*, units: float, cached: bool, outcome: str | None = None) -> ProviderCall:
        return record(units=units, unit_kind=translator.unit_kind, cached=cached, outcome=outcome)

    with lock(digest):
        if storage.exists(key):
            stored = Translated.model_validate_json(storage.read_bytes(key))
            return Translation(stored.title, tuple(stored.scenes)), call(units=0, cached=True)
        with ledgered(record, translator.unit_kind, on_failed_call):
            answer, units = translator.translate(title=title, texts=texts, language=language)
        if len(answer.scenes) != len(texts) or not all(text.strip() for text in answer.scenes):
            on_failed_call(call(units=units, cached=False, outcome="error_retryable"))
            raise ProviderError(
                f"malformed response: {len(answer.scenes)} translated scenes for {len(texts)}",
                provider=translator.name,
                retryable=True,
            )
        storage.put_bytes(key, answer.model_dump_json().encode("utf-8"))
    return Translation(answer.title, tuple(answer.scenes)), call(units=units, cached=False)


class GeminiTranslator:
    """One ``generateContent`` call per video and language, with ``Translated`` as the response schema."""

    name = "gemini"
    unit_kind = "tokens"

    def __init__(self, *, api_key: str, model: str, base_url: str | None = None, timeout_s: float = 120.0) -> None:
        from pipeline.scriptgen.gemini import GeminiScript

        self._gemini = GeminiScript(api_key=api_key, model=model, base_url=base_url, timeout_s=timeout_s)
        self.model = model

    def translate(self, *, title: str, texts: Sequence[str], language: str) -> tuple[Translated, float]:
        from google.genai import errors, types

        from pipeline.scriptgen import gemini

        prompt = "\n".join(
            [
                f"Translate this video's title and the narration of each of its {len(texts)} scenes into "
                f"{language_name(language)} ({language}). Keep the meaning, the tone and the length; keep names; "
                "one translated text per scene, in the same order.",
                f"Title: {title}",
                *(f"Scene {number}: {text}" for number, text in enumerate(texts, start=1)),
            ]
        )
        config = types.GenerateContentConfig(
            system_instruction="You translate narration for videos. Answer only with JSON that matches the schema.",
            response_mime_type="application/json",
            response_schema=Translated,
            temperature=0.2,
        )
        try:
            response = self._gemini._client.models.generate_content(model=self.model, contents=prompt, config=config)
        except errors.APIError as exc:
            raise gemini._api_error(exc) from None
        except gemini._TIMEOUTS:
            raise ProviderError("timed out waiting for Gemini", provider=self.name, retryable=True) from None
        except gemini._TRANSPORT_ERRORS as exc:
            raise ProviderError(f"connection failed: {exc}", provider=self.name, retryable=True) from None
        try:
            answer = Translated.model_validate(json.loads(response.text or ""))
        except (json.JSONDecodeError, ValidationError, TypeError, ValueError) as exc:
            detail = str(exc).splitlines()[0][:300]
            raise ProviderError(f"malformed response: {detail}", provider=self.name, retryable=True) from None
        usage: Any = response.usage_metadata
        return answer, float((usage.total_token_count or 0) if usage else 0)
