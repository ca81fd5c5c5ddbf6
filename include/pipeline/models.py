"""Domain values. They cross task boundaries as plain JSON (``model_dump(mode="json")``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.errors import InvalidRequest

Aspect = Literal["16:9", "9:16", "1:1"]
Resolution = Literal[720, 1080]

# (aspect, resolution) -> (width, height): "resolution" is the short side of the frame.
FRAME_SIZES: dict[tuple[str, int], tuple[int, int]] = {
    ("16:9", 720): (1280, 720),
    ("16:9", 1080): (1920, 1080),
    ("9:16", 720): (720, 1280),
    ("9:16", 1080): (1080, 1920),
    ("1:1", 720): (720, 720),
    ("1:1", 1080): (1080, 1080),
}

REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
EMAIL_PATTERN = r"^[^@\s<>]+@[^@\s<>]+$"
MAX_TITLE_CHARS = 200
MAX_SCRIPT_CHARS = 20_000


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VideoRequest(Frozen):
    """What content ops ask for: one row of the request table, or one DAG run's conf."""

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    script: str = Field(default="", max_length=MAX_SCRIPT_CHARS)
    topic: str = Field(default="", max_length=2_000)
    tone: str = Field(default="", max_length=200)
    audience: str = Field(default="", max_length=200)
    target_duration_s: int = Field(default=60, ge=10, le=900)
    voice: str = Field(default="en-us", min_length=1, max_length=64)
    aspect: Aspect = "16:9"
    resolution: Resolution = 720
    notify_emails: tuple[str, ...] = ()
    ken_burns: bool = True
    crossfade_s: float = Field(default=0.5, ge=0, le=2)
    scene_padding_s: float = Field(default=0.3, ge=0, le=3)
    burn_subtitles: bool = True
    soft_subtitles: bool = True
    music: str = Field(default="", pattern=r"^$|^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")
    image_provider: str | None = Field(default=None, description="None = the configured default.")
    voice_provider: str | None = Field(default=None, description="None = the configured default.")

    @field_validator("title")
    @classmethod
    def _title_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title must contain some text")
        return value.strip()

    @field_validator("notify_emails")
    @classmethod
    def _emails_look_like_emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [email for email in value if not re.match(EMAIL_PATTERN, email)]
        if bad:
            raise ValueError(f"not an email address: {', '.join(bad)}")
        return value

    @property
    def frame_size(self) -> tuple[int, int]:
        return FRAME_SIZES[(self.aspect, self.resolution)]

    @classmethod
    def parse(cls, data: dict[str, object]) -> VideoRequest:
        """Validate untrusted input, raising ``InvalidRequest`` with every problem in one message."""
        from pydantic import ValidationError

        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'request'}: {err['msg']}" for err in exc.errors()
            )
            raise InvalidRequest(f"invalid video request: {problems}") from None


def check_request(request: VideoRequest, *, voices: frozenset[str]) -> None:
    """What the schema cannot see: a script or a topic is needed, and the voice must exist."""
    problems = []
    if not request.script.strip() and not request.topic.strip():
        problems.append("give a script, or a topic to generate one from")
    if request.voice.lower() not in voices:
        examples = ", ".join(sorted(voices, key=lambda v: (not v.startswith("en"), v))[:6])
        problems.append(f"unknown voice {request.voice!r} (for example: {examples})")
    if problems:
        raise InvalidRequest(f"request {request.request_id!r} is invalid: " + "; ".join(problems))


class Scene(Frozen):
    """One narrated shot: the unit the media and voice tasks are mapped over."""

    project_id: int
    index: int = Field(ge=0)
    text: str = Field(min_length=1)
    keywords: tuple[str, ...]
    visual_prompt: str
    width: int
    height: int
    voice: str
    title: str
    image_provider: str = "procedural"
    voice_provider: str = "espeak"

    @property
    def label(self) -> str:
        """Shown in the Airflow UI for the mapped task instance of this scene."""
        words = ", ".join(self.keywords[:3]) or self.text[:30]
        return f"scene {self.index + 1}: {words}"


class WordTiming(Frozen):
    word: str
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)


class MediaAsset(Frozen):
    scene_index: int
    content_hash: str
    storage_key: str
    kind: Literal["image", "video"] = "image"
    provider: str
    width: int
    height: int
    cached: bool


class AudioAsset(Frozen):
    scene_index: int
    content_hash: str
    storage_key: str
    provider: str
    voice: str
    duration_s: float = Field(gt=0)
    words: tuple[WordTiming, ...]
    timings_estimated: bool
    cached: bool


class RenderScene(Frozen):
    index: int
    media_key: str
    media_kind: Literal["image", "video"] = "image"
    audio_key: str
    audio_duration_s: float = Field(gt=0)
    words: tuple[WordTiming, ...] = ()


class RenderSpec(Frozen):
    """Everything the render entry point needs; it is written to storage and read by key or path."""

    project_id: int
    title: str
    width: int = Field(ge=64, le=4096)
    height: int = Field(ge=64, le=4096)
    fps: int = Field(default=30, ge=1, le=60)
    scenes: tuple[RenderScene, ...] = Field(min_length=1)
    output_key: str
    subtitles_key: str
    thumbnail_key: str | None = None
    padding_s: float = Field(default=0.0, ge=0, le=5, description="Silence added after each scene's narration.")
    ken_burns: bool = False
    crossfade_s: float = Field(default=0.0, ge=0, le=2, description="0 = hard cuts.")
    burn_subtitles: bool = False
    soft_subtitles: bool = False
    music_key: str | None = None
    music_volume: float = Field(default=0.25, ge=0, le=1)
    loudness_lufs: float | None = Field(default=-16.0, ge=-40, le=-5, description="None = leave levels as they are.")
    true_peak_db: float = Field(default=-1.5, ge=-9, le=0)

    @property
    def narration_s(self) -> float:
        return sum(scene.audio_duration_s for scene in self.scenes)


class OutputFacts(Frozen):
    """What ffprobe says about a rendered file."""

    duration_s: float
    width: int
    height: int
    video_codec: str
    audio_codec: str
    video_streams: int
    audio_streams: int
    subtitle_streams: int
    size_bytes: int
    faststart: bool


class RenderResult(Frozen):
    project_id: int
    video_key: str
    subtitles_key: str
    video_url: str
    thumbnail_key: str | None = None
    facts: OutputFacts
    expected_duration_s: float
    soft_subtitles: bool = False
