"""Channels: a brand kit a request names (``channel``) instead of repeating its look, voice and sources.

A channel holds a logo watermark (position, opacity, width), intro and outro (a card in the channel's colours with
a line of text, or a clip of the media library), card colours for the title cards, a caption style, a default
voice and voice provider, music (a track, or a mood the track is picked by) and media sources.
What a request leaves empty comes from its channel, then from the factory's defaults; what it sets wins.

Channels live in ``video.channels`` (``videoctl channel``, the Videos page); a logo is checked (an image Pillow
decodes whole, at most ``MAX_LOGO_BYTES``), made PNG with alpha and stored under the hash of its pixels.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator
from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert

from pipeline.db.schema import channels
from pipeline.errors import InvalidRequest
from pipeline.fonts import has_family
from pipeline.models import CaptionLook, CaptionPosition
from pipeline.request import (
    MOOD_PATTERN,
    MUSIC_PATTERN,
    NO_CONTROLS,
    ONE_LINE,
    REQUEST_ID_PATTERN,
    CaptionPreset,
    MediaSourceName,
    VideoRequest,
    VoiceProviderName,
    one_line_reason,
    pattern_rule,
)
from pipeline.storage import Storage
from pipeline.storage.base import content_key

MAX_LOGO_BYTES = 5 * 1024 * 1024
HEX_COLOUR = r"^#[0-9A-Fa-f]{6}$"
FONT_FAMILY = r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$"
SUGGESTED_FONTS = ("DejaVu Sans", "DejaVu Serif", "Liberation Sans", "Liberation Serif", "Noto Sans", "Noto Serif")
Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]
Colour = Annotated[str, Field(pattern=HEX_COLOUR)]


DESTINATION_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"
CONNECTION_ID = r"^[A-Za-z0-9_.-]{1,200}$"


class WebhookDestination(BaseModel):
    """A team's CMS: a signed JSON POST for each finished video (pipeline.publish.webhook)."""

    model_config = ConfigDict(frozen=True, extra="forbid", regex_engine="python-re")

    name: str = Field(pattern=DESTINATION_NAME, description="The channel's name for it, e.g. cms.")
    kind: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2000, description="Where the POST goes.")
    connection: str = Field(pattern=CONNECTION_ID, description="The Airflow connection whose password signs.")


class YouTubeDestination(BaseModel):
    """A YouTube channel: each finished video uploaded through the Data API (pipeline.publish.youtube)."""

    model_config = ConfigDict(frozen=True, extra="forbid", regex_engine="python-re")

    name: str = Field(pattern=DESTINATION_NAME, description="The channel's name for it, e.g. youtube.")
    kind: Literal["youtube"] = "youtube"
    connection: str = Field(pattern=CONNECTION_ID, description="The Airflow connection with the OAuth grant.")
    made_for_kids: bool = Field(description="YouTube's 'made for kids' question, answered for every video.")
    privacy: Literal["private", "unlisted", "public"] = "private"
    release_at: str | None = Field(
        default=None,
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="HH:MM UTC: videos stay private and go public at the next such time (publishAt).",
    )
    category_id: str = Field(default="22", pattern=r"^[0-9]{1,3}$", description="YouTube's category (22: People).")
    playlist_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{2,64}$")
    daily_quota: int = Field(default=10_000, ge=100, le=10_000_000, description="API units a day for the channel.")


def _destination_kind(value: Any) -> str:
    return str(value.get("kind", "webhook") if isinstance(value, dict) else getattr(value, "kind", "webhook"))


Destination = Annotated[
    Annotated[WebhookDestination, Tag("webhook")] | Annotated[YouTubeDestination, Tag("youtube")],
    Discriminator(_destination_kind),
]


class BrandKit(BaseModel):
    """What a channel gives the videos that name it (every field optional)."""

    model_config = ConfigDict(frozen=True, extra="forbid", regex_engine="python-re")

    title: str | None = Field(default=None, max_length=120, pattern=ONE_LINE, description="The channel's name.")
    logo_key: str | None = Field(default=None, description="Storage key of the logo (set by uploading one).")
    logo_position: Corner = "top-right"
    logo_opacity: float = Field(default=0.85, ge=0.1, le=1.0)
    logo_width: float = Field(default=0.14, ge=0.04, le=0.4, description="The logo's width, a fraction of the frame's.")
    intro: str | None = Field(default=None, max_length=120, pattern=ONE_LINE, description="Text of the intro card.")
    outro: str | None = Field(default=None, max_length=120, pattern=ONE_LINE, description="Text of the outro card.")
    intro_clip: str | None = Field(default=None, pattern=MUSIC_PATTERN, description="A library clip as the intro.")
    outro_clip: str | None = Field(default=None, pattern=MUSIC_PATTERN, description="A library clip as the outro.")
    bumper_s: float = Field(default=2.5, ge=1.0, le=8.0, description="How long the intro and the outro last.")
    card_background: Colour | None = None
    card_text: Colour | None = None
    card_font: str | None = Field(default=None, max_length=80, pattern=FONT_FAMILY, description="A font family.")
    captions: CaptionPreset | None = None
    # no comma: the family goes into the subtitles' comma-separated style line
    caption_font: str | None = Field(default=None, max_length=80, pattern=FONT_FAMILY, description="A font family.")
    caption_colour: Colour | None = None
    caption_highlight: Colour | None = None
    caption_outline_colour: Colour | None = None
    caption_size: int | None = Field(default=None, ge=50, le=200, description="Per cent of the preset's size.")
    caption_outline: float | None = Field(default=None, ge=0, le=3, description="Times the preset's outline.")
    caption_position: CaptionPosition | None = None
    caption_words_per_line: int | None = Field(default=None, ge=1, le=12)
    voice: str | None = Field(default=None, max_length=64, pattern=NO_CONTROLS)
    voice_provider: VoiceProviderName | None = None
    music: str | None = Field(default=None, pattern=MUSIC_PATTERN)
    music_mood: str | None = Field(default=None, pattern=MOOD_PATTERN)
    media_sources: tuple[MediaSourceName, ...] | None = None
    destinations: tuple[Destination, ...] | None = Field(
        default=None, description="Where its finished videos are published (the video_publishing DAG)."
    )

    @field_validator("destinations")
    @classmethod
    def _one_name_each(cls, value: tuple[Destination, ...] | None) -> tuple[Destination, ...] | None:
        names = [destination.name for destination in value or ()]
        if len(names) != len(set(names)):
            raise ValueError("each destination needs a name of its own")
        return value

    @property
    def caption_look(self) -> CaptionLook | None:
        """The kit's changes to the caption preset, when it makes any."""
        look = CaptionLook(**{name: getattr(self, f"caption_{name}") for name in CaptionLook.model_fields})
        return look if look != CaptionLook() else None

    @property
    def palette(self) -> tuple[str, str] | None:
        """(background, text) of the title cards, when the channel sets its colours."""
        if self.card_background is None:
            return None
        return self.card_background, self.card_text or "#FFFFFF"


@dataclass(frozen=True)
class Channel:
    name: str
    kit: BrandKit
    updated_by: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "updated_by": self.updated_by, **self.kit.model_dump(mode="json")}


def check_kit(values: dict[str, Any]) -> BrandKit:
    """The brand kit ``values`` describe, or ``InvalidRequest`` naming every problem in one line."""
    try:
        kit = BrandKit.model_validate(values)
    except ValidationError as exc:
        raise InvalidRequest(one_line_reason(exc).replace("invalid video request", "invalid channel")) from None
    for field, family in (("caption_font", kit.caption_font), ("card_font", kit.card_font)):
        if family is not None and not has_family(family):
            examples = ", ".join(font for font in SUGGESTED_FONTS if has_family(font))
            raise InvalidRequest(
                f"invalid channel: {field}: no font family {family!r} is installed; "
                f"choose one such as {examples} (`fc-list : family` lists them all)"
            )
    return kit


def check_name(name: str) -> str:
    """``name`` as a channel's name: the rule of request ids (fullmatch: no final line break either)."""
    import re

    if not re.fullmatch(REQUEST_ID_PATTERN, name):
        raise InvalidRequest(f"{name[:60]!r} cannot be a channel's name: {pattern_rule(REQUEST_ID_PATTERN)}")
    return name


def save_channel(
    engine: Engine, name: str, kit: BrandKit, *, updated_by: str, storage: Storage | None = None
) -> Channel:
    """Create or replace channel ``name``; its intro and outro clips must be videos of the media library."""
    from pipeline.library import get_item

    check_name(name)
    for field, clip in (("intro_clip", kit.intro_clip), ("outro_clip", kit.outro_clip)):
        item = get_item(engine, clip) if clip else None
        if clip and (item is None or item.kind != "video"):
            raise InvalidRequest(f"{field}: no clip {clip!r} in the media library: add it (videoctl library add)")
    row = {"name": name, "kit": kit.model_dump(mode="json"), "updated_by": updated_by}
    statement = insert(channels).values(**row)
    statement = statement.on_conflict_do_update(
        index_elements=[channels.c.name], set_={**row, "updated_at": statement.excluded.updated_at}
    )
    with engine.begin() as conn:
        conn.execute(statement)
    return Channel(name=name, kit=kit, updated_by=updated_by)


def get_channel(engine: Engine, name: str) -> Channel | None:
    with engine.connect() as conn:
        row = conn.execute(select(channels).where(channels.c.name == name)).mappings().one_or_none()
    return None if row is None else Channel(row["name"], BrandKit.model_validate(row["kit"]), row["updated_by"])


def list_channels(engine: Engine) -> list[Channel]:
    with engine.connect() as conn:
        rows = conn.execute(select(channels).order_by(channels.c.name)).mappings().all()
    return [Channel(row["name"], BrandKit.model_validate(row["kit"]), row["updated_by"]) for row in rows]


def channel_names(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(channels.c.name)).scalars())


def store_logo(storage: Storage, source: Path) -> str:
    """The logo as a PNG with alpha in storage (``brand/ab/abcd….png``); ``InvalidRequest`` when it is not an image
    that decodes whole, or is too large."""
    from PIL import Image, UnidentifiedImageError

    size = source.stat().st_size
    if size > MAX_LOGO_BYTES:
        raise InvalidRequest(f"the logo is {size / 1e6:.1f} MB; at most {MAX_LOGO_BYTES / 1e6:.0f} MB")
    try:
        with Image.open(source) as image:
            image.load()
            logo = image.convert("RGBA")
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise InvalidRequest("the logo is not an image Pillow can read whole (PNG, JPEG or WebP)") from None
    if min(logo.size) < 16:
        raise InvalidRequest(f"the logo is {logo.width}x{logo.height}; at least 16 pixels each way")
    buffer = io.BytesIO()
    logo.save(buffer, format="PNG")
    data = buffer.getvalue()
    key = content_key("brand", hashlib.sha256(data).hexdigest(), "png")
    if not storage.exists(key):
        storage.put_bytes(key, data)
    return key


# the request's fields a channel may fill in, and the kit's field each comes from
FILLED_BY_CHANNEL = {"voice": "voice", "voice_provider": "voice_provider", "media_sources": "media_sources"}
LOOK_FILLED_BY_CHANNEL = {"captions": "captions", "music": "music"}


def apply_channel(request: VideoRequest, kit: BrandKit) -> VideoRequest:
    """``request`` with what it leaves empty taken from ``kit`` (what it sets wins)."""
    update = {
        field: getattr(kit, source)
        for field, source in FILLED_BY_CHANNEL.items()
        if getattr(request, field) is None and getattr(kit, source) is not None
    }
    look = {
        field: getattr(kit, source)
        for field, source in LOOK_FILLED_BY_CHANNEL.items()
        if getattr(request.look, field) is None and getattr(kit, source) is not None
    }
    look_now = request.look.model_copy(update=look)
    if look_now.music is None and look_now.music_mood is None and kit.music_mood is not None:
        look["music_mood"] = kit.music_mood
    if look:
        update["look"] = request.look.model_copy(update=look)
    return request.model_copy(update=update)
