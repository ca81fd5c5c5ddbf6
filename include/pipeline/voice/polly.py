"""Narration with Amazon Polly through boto3, with word timings from Polly's speech marks.

Text goes out as SSML with every character escaped. A text over the per-call limit is split at sentences (then
words), each part synthesised with its speech marks, and the parts joined with their timings shifted. The
voice list comes from ``describe_voices`` once a day (cached in a file), and the neural engine is used where
the voice supports it.
"""

from __future__ import annotations

import html
import json
import tempfile
import time
import wave
from functools import partial
from pathlib import Path
from typing import Any

from pipeline.atomic import atomic_path, write_atomic
from pipeline.aws import aws_error
from pipeline.commands import run_program, stderr_tail
from pipeline.constants import VoiceProviderId
from pipeline.errors import InvalidRequest, ProviderError
from pipeline.models import WordTiming
from pipeline.segment import split_sentences
from pipeline.voice.base import Speech

MAX_TEXT_CHARS = 1500  # escaped text per call; Polly bills at most 3000 characters and takes 6000 with tags
SAMPLE_RATE = 22050  # valid for MP3 on every engine (neural also offers 24000)
VOICES_TTL_S = 24 * 3600


class PollyVoice:
    """One ``synthesize_speech`` for the audio and one for the word marks, per part of the text."""

    name = VoiceProviderId.POLLY.value
    extension = "wav"

    def __init__(
        self,
        *,
        client: Any,
        engine: str = "neural",
        cache_file: Path | None = None,
        ffmpeg_bin: str = "ffmpeg",
        max_chars: int = MAX_TEXT_CHARS,
    ) -> None:
        self.client = client
        self.model = engine  # the preferred engine; a voice without it uses "standard"
        self.cache_file = cache_file
        self.ffmpeg_bin = ffmpeg_bin
        self.max_chars = max_chars
        self._voices: dict[str, dict[str, Any]] | None = None

    # -- voices ----------------------------------------------------------------------------------------

    def _voice_table(self) -> dict[str, dict[str, Any]]:
        if self._voices is None:
            listing = self._cached_listing()
            if listing is None:
                listing = self._describe_voices()
                self._store_listing(listing)
            self._voices = {voice["Id"].lower(): voice for voice in listing}
        return self._voices

    def _describe_voices(self) -> list[dict[str, Any]]:
        voices: list[dict[str, Any]] = []
        try:
            for page in self.client.get_paginator("describe_voices").paginate(IncludeAdditionalLanguageCodes=True):
                voices.extend(page.get("Voices", []))
        except Exception as exc:
            raise aws_error(self.name, exc) from None
        if not voices:
            raise ProviderError("describe_voices returned no voices", provider=self.name, retryable=True)
        return [
            {
                "Id": v["Id"],
                "SupportedEngines": v.get("SupportedEngines", ["standard"]),
                "LanguageCodes": [v.get("LanguageCode", ""), *v.get("AdditionalLanguageCodes", [])],
            }
            for v in voices
        ]

    def _cached_listing(self) -> list[dict[str, Any]] | None:
        if self.cache_file is None or not self.cache_file.is_file():
            return None
        if time.time() - self.cache_file.stat().st_mtime > VOICES_TTL_S:
            return None
        try:
            data = json.loads(self.cache_file.read_text())
            fresh = isinstance(data, list) and data and all("LanguageCodes" in voice for voice in data)
            return data if fresh else None  # a listing of an older version lacks the languages
        except (OSError, json.JSONDecodeError):
            return None

    def _store_listing(self, listing: list[dict[str, Any]]) -> None:
        if self.cache_file is None:
            return
        write_atomic(self.cache_file, json.dumps(listing).encode("utf-8"))

    def voices(self) -> frozenset[str]:
        return frozenset(self._voice_table())

    def voice_for(self, language: str) -> str | None:
        """A voice whose language is ``language`` (``de`` matches de-DE), one with this engine first, by name."""
        code = language.lower()
        speaking = [
            voice
            for voice in self._voice_table().values()
            if any(c.lower() == code or c.lower().startswith(f"{code}-") for c in voice.get("LanguageCodes", []))
        ]
        speaking.sort(key=lambda v: (self.model not in v["SupportedEngines"], v["Id"]))
        return str(speaking[0]["Id"]) if speaking else None

    def _voice(self, voice: str) -> dict[str, Any]:
        entry = self._voice_table().get(voice.lower())
        if entry is None:
            raise InvalidRequest(f"Amazon Polly has no voice {voice!r} (for example Joanna, Matthew, Amy)")
        return entry

    def engine_for(self, voice: str) -> str:
        return self.model if self.model in self._voice(voice)["SupportedEngines"] else "standard"

    # -- synthesis -------------------------------------------------------------------------------------

    def synthesize(self, *, text: str, voice: str, dest: Path) -> Speech:
        voice_id = self._voice(voice)["Id"]
        engine = self.engine_for(voice)
        parts = split_for_polly(text, self.max_chars)
        words: list[WordTiming] = []
        offset = 0.0
        characters = 0
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix="polly-") as scratch:
            pcm = bytearray()
            for number, part in enumerate(parts):
                ssml = to_ssml(part)
                audio = self._call(ssml, voice_id, engine, OutputFormat="mp3", SampleRate=str(SAMPLE_RATE))
                marks = self._call(ssml, voice_id, engine, OutputFormat="json", SpeechMarkTypes=["word"])
                characters += 2 * len(part)  # audio and marks are each billed by the characters of the text
                samples = self._decode(audio, Path(scratch) / f"part{number}.mp3")
                duration = len(samples) / 2 / SAMPLE_RATE
                words.extend(parse_word_marks(marks, offset_s=offset, duration_s=duration))
                pcm.extend(samples)
                offset += duration
            with atomic_path(dest) as tmp, wave.open(str(tmp), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(SAMPLE_RATE)
                out.writeframes(bytes(pcm))
        return Speech(
            duration_s=round(offset, 3),
            words=tuple(words),
            timings_estimated=False,
            units=characters,
            unit_kind="characters",
            model=engine,
        )

    def _call(self, ssml: str, voice_id: str, engine: str, **kwargs: Any) -> bytes:
        try:
            response = self.client.synthesize_speech(
                Text=ssml, TextType="ssml", VoiceId=voice_id, Engine=engine, **kwargs
            )
            with response["AudioStream"] as stream:
                return bytes(stream.read())
        except Exception as exc:
            raise aws_error(self.name, exc) from None

    def _decode(self, mp3: bytes, path: Path) -> bytes:
        """16-bit mono PCM at SAMPLE_RATE of one MP3 part; an undecodable answer is a malformed response."""
        path.write_bytes(mp3)
        completed = run_program(
            [
                self.ffmpeg_bin,
                "-v",
                "error",
                "-xerror",
                "-i",
                str(path),
                "-f",
                "s16le",
                "-ac",
                "1",
                "-ar",
                str(SAMPLE_RATE),
                "-",
            ],
            error=partial(ProviderError, provider=self.name),
            timeout_s=120,
            text=False,
            check=False,
        )
        if completed.returncode != 0 or len(completed.stdout) < SAMPLE_RATE // 10:
            reason = stderr_tail(completed.stderr)[:200] if completed.stderr else f"{len(mp3)} bytes of no audio"
            raise ProviderError(
                f"malformed response: the audio cannot be decoded ({reason})", provider=self.name, retryable=False
            )
        return completed.stdout


def to_ssml(text: str) -> str:
    """``text`` as SSML: every character escaped, so nothing in it is read as markup."""
    return f"<speak>{html.escape(text, quote=True)}</speak>"


def split_for_polly(text: str, max_chars: int) -> list[str]:
    """Parts of ``text`` whose escaped form is at most ``max_chars``, cut at sentences, else between words."""

    def size(piece: str) -> int:
        return len(html.escape(piece, quote=True))

    pieces: list[str] = []
    for sentence in split_sentences(text) or [text]:
        if size(sentence) <= max_chars:
            pieces.append(sentence)
            continue
        current = ""
        for word in sentence.split():
            candidate = f"{current} {word}".strip()
            if current and size(candidate) > max_chars:
                pieces.append(current)
                current = word
            else:
                current = candidate
        if current:
            pieces.append(current)
    parts: list[str] = []
    for piece in pieces:
        if parts and size(f"{parts[-1]} {piece}") <= max_chars:
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    for part in parts:
        if size(part) > max_chars:
            raise InvalidRequest(f"a single word is longer than Polly's limit of {max_chars} characters")
    return parts


def parse_word_marks(data: bytes, *, offset_s: float, duration_s: float) -> list[WordTiming]:
    """Word timings from Polly's JSON-lines speech marks; a word ends where the next begins."""
    marks: list[tuple[float, str]] = []
    try:
        for line in data.decode("utf-8").splitlines():
            if not line.strip():
                continue
            mark = json.loads(line)
            if mark.get("type") == "word":
                marks.append((float(mark["time"]) / 1000.0, html.unescape(str(mark["value"]))))
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ProviderError(f"malformed speech marks: {exc}", provider=VoiceProviderId.POLLY, retryable=False) from None
    timings = []
    for i, (said_at, word) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else duration_s
        start = min(said_at, duration_s)
        timings.append(
            WordTiming(word=word, start_s=round(offset_s + start, 3), end_s=round(offset_s + max(start, end), 3))
        )
    return timings
