"""Domain values. They cross task boundaries as plain JSON (``model_dump(mode="json")``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.request import LookAndSound

MAX_LABEL_CHARS = 120  # a mapped task instance's label; Airflow's column holds 250


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LibraryPick(Frozen):
    """The library item chosen for a scene (by ``pipeline.library.pick_items``, once for the whole video)."""

    name: str
    storage_key: str
    kind: Literal["image", "video"]
    licence: str


class CardLook(Frozen):
    """How a video's title cards look: its channel's colours and font, and the rows its captions cover (the text
    keeps clear of them; None: the classic preset's band)."""

    palette: tuple[str, str] | None = None  # (background, text) as #RRGGBB
    font: str | None = None  # a font family, first in the fallback stack
    caption_band: tuple[int, int] | None = None


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
    media_sources: tuple[str, ...] = ()  # looked in first, in order (library, pexels), before the image provider
    library_pick: LibraryPick | None = None
    card: CardLook = Field(default_factory=CardLook)  # how its title card looks, when it gets one
    language: str = ""  # a translated version's language; "" is the script's own

    @property
    def label(self) -> str:
        """Shown in the Airflow UI for the mapped task instance of this scene; at most ``MAX_LABEL_CHARS`` (Airflow
        stores it in a column of 250 characters and fails the task instance that exceeds it)."""
        words = " ".join((", ".join(self.keywords[:3]) or self.text[:30]).split())
        version = f" ({self.language})" if self.language else ""
        label = f"scene {self.index + 1}{version}: {words}"
        return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


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
    credit: str | None = None  # who made it, where from ("Video by NAME on Pexels: URL")
    licence: str | None = None


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
    language: str = ""


class RenderScene(Frozen):
    index: int
    media_key: str
    media_kind: Literal["image", "video"] = "image"
    audio_key: str
    audio_duration_s: float = Field(gt=0)
    words: tuple[WordTiming, ...] = ()
    bumper: Literal["intro", "outro"] | None = Field(default=None, description="A channel's intro or outro.")


class LogoOverlay(Frozen):
    """A channel's watermark: its logo in one corner, at a fraction of the frame's width, partly transparent."""

    key: str
    position: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = "top-right"
    opacity: float = Field(default=0.85, ge=0.1, le=1.0)
    width: float = Field(default=0.14, ge=0.04, le=0.4)


CaptionPosition = Literal["bottom", "middle", "top"]


class CaptionLook(Frozen):
    """A channel's changes to its caption preset (each None: the preset's own)."""

    font: str | None = Field(default=None, description="A font family fontconfig knows, e.g. Liberation Serif.")
    colour: str | None = Field(default=None, pattern=r"^#[0-9A-Fa-f]{6}$", description="The text's colour.")
    highlight: str | None = Field(
        default=None, pattern=r"^#[0-9A-Fa-f]{6}$", description="The spoken word's colour (shorts)."
    )
    outline_colour: str | None = Field(
        default=None, pattern=r"^#[0-9A-Fa-f]{6}$", description="The outline's colour, or the band's (boxed)."
    )
    size: int | None = Field(default=None, ge=50, le=200, description="Text size, per cent of the preset's.")
    outline: float | None = Field(default=None, ge=0, le=3, description="Outline width, times the preset's.")
    position: CaptionPosition | None = Field(default=None, description="Where on the frame, inside its safe zone.")
    words_per_line: int | None = Field(default=None, ge=1, le=12, description="At most this many words a line.")


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
    look: LookAndSound = Field(default_factory=LookAndSound, description="The request's look and sound options.")
    music_key: str | None = Field(default=None, description="Storage key of the music track (look.music resolved).")
    logo: LogoOverlay | None = Field(default=None, description="The channel's watermark.")
    caption_look: CaptionLook | None = Field(default=None, description="The channel's changes to the captions.")
    music_volume: float = Field(default=0.25, ge=0, le=1)
    loudness_lufs: float | None = Field(default=-16.0, ge=-40, le=-5, description="None = leave levels as they are.")
    true_peak_db: float = Field(default=-1.5, ge=-9, le=0)
    attempt: int = Field(default=1, ge=1, description="The render task's try: each try writes its own outputs.")
    language: str = Field(default="", description="The version's language (\"\": the script's own).")

    def for_attempt(self, attempt: int) -> RenderSpec:
        """This spec as render attempt ``attempt`` writes it: a second try never writes over the first's files
        (a killed worker's orphan may still be writing them), it writes beside them under its own names."""
        if attempt <= 1:
            return self

        def tried(key: str) -> str:
            stem, dot, extension = key.rpartition(".")
            return f"{stem}-try{attempt}.{extension}" if dot else f"{key}-try{attempt}"

        thumbnail = tried(self.thumbnail_key) if self.thumbnail_key else None
        return self.model_copy(
            update={
                "attempt": attempt,
                "output_key": tried(self.output_key),
                "subtitles_key": tried(self.subtitles_key),
                "thumbnail_key": thumbnail,
            }
        )

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
    attempt: int = 1  # the render task's try number: only the newest attempt's result is published
    language: str = ""  # the version's language ("": the script's own)


class ProjectSummary(Frozen):
    """A project as the emails, the run notes, the demo and the CLI show it: its state and its latest render."""

    id: int
    title: str
    status: str  # a ProjectStatus
    error: str | None = None
    failed_task: str | None = None
    dag_run_id: str | None = None  # the run that makes (or made) the video
    notify_emails: list[str] = Field(default_factory=list)
    scene_count: int = 0
    video: dict[str, Any] | None = None  # the latest rendered_videos row (published first)
