"""A channel's brand on a video: the logo watermark (drawn by the render) and the intro and outro, each a card in
the channel's colours with its line of text and logo, or a clip of the media library, over silence.

Cards and silences are stored content-addressed (``brand/…``): every video of a channel shares them.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Callable
from typing import Literal

from PIL import Image, ImageDraw

from pipeline.channels import BrandKit
from pipeline.fonts import load_font
from pipeline.images.procedural import rgb
from pipeline.models import LogoOverlay, RenderScene, RenderSpec
from pipeline.storage import Storage
from pipeline.storage.base import content_hash, content_key

SILENCE_RATE = 22_050
DEFAULT_BACKGROUND, DEFAULT_TEXT = "#15202B", "#FFFFFF"


def branded(
    spec: RenderSpec, kit: BrandKit | None, *, storage: Storage, clip_key: Callable[[str], str | None]
) -> RenderSpec:
    """``spec`` with the channel's watermark, intro and outro (``clip_key(name)``: a library clip's storage key)."""
    if kit is None:
        return spec
    logo = (
        LogoOverlay(key=kit.logo_key, position=kit.logo_position, opacity=kit.logo_opacity, width=kit.logo_width)
        if kit.logo_key
        else None
    )
    scenes = list(spec.scenes)
    intro = _bumper(kit, kit.intro, kit.intro_clip, spec=spec, storage=storage, clip_key=clip_key, bumper="intro")
    outro = _bumper(kit, kit.outro, kit.outro_clip, spec=spec, storage=storage, clip_key=clip_key, bumper="outro")
    scenes = [*([intro] if intro else []), *scenes, *([outro] if outro else [])]
    return spec.model_copy(update={"logo": logo, "scenes": tuple(scenes), "caption_look": kit.caption_look})


def _bumper(
    kit: BrandKit,
    text: str | None,
    clip: str | None,
    *,
    spec: RenderSpec,
    storage: Storage,
    clip_key: Callable[[str], str | None],
    bumper: Literal["intro", "outro"],
) -> RenderScene | None:
    index = -1 if bumper == "intro" else len(spec.scenes)
    key = clip_key(clip) if clip else None
    if key is None and not text:
        return None
    audio = silence(kit.bumper_s, storage)
    if key is not None:
        return RenderScene(
            index=index,
            media_key=key,
            media_kind="video",
            audio_key=audio,
            audio_duration_s=kit.bumper_s,
            bumper=bumper,
        )
    card = bumper_card(text or "", kit=kit, width=spec.width, height=spec.height, storage=storage)
    return RenderScene(
        index=index, media_key=card, media_kind="image", audio_key=audio, audio_duration_s=kit.bumper_s, bumper=bumper
    )


def bumper_card(text: str, *, kit: BrandKit, width: int, height: int, storage: Storage) -> str:
    """A card of the channel's colours with ``text`` centred and its logo above: its storage key (made once)."""
    background, colour = kit.palette or (DEFAULT_BACKGROUND, DEFAULT_TEXT)
    digest = content_hash(
        kind="bumper", text=text, colours=[background, colour], logo=kit.logo_key, size=[width, height]
    )
    key = content_key("brand", digest, "png")
    if storage.exists(key):
        return key
    image = Image.new("RGB", (width, height), rgb(background))
    short = min(width, height)
    middle = height // 2
    if kit.logo_key:
        with Image.open(storage.local_path(kit.logo_key)) as source:
            logo = source.convert("RGBA")
        side = short // 4
        logo.thumbnail((side, side))
        image.paste(logo, ((width - logo.width) // 2, middle - logo.height - short // 20), logo)
        middle += short // 20
    draw = ImageDraw.Draw(image)
    size = max(20, short // 12)
    font = load_font(size, kit.card_font)
    while font.length(text) > width * 0.84 and size > 14:
        size = size * 9 // 10
        font = load_font(size, kit.card_font)
    font.draw_lines(
        draw, (width / 2, middle + (0 if kit.logo_key else -size // 2)), [text], spacing=0, fill=rgb(colour)
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    storage.put_bytes(key, buffer.getvalue())
    return key


def silence(seconds: float, storage: Storage) -> str:
    """A WAV of ``seconds`` of silence in storage (made once per length)."""
    key = content_key("brand", content_hash(kind="silence", seconds=round(seconds, 3), rate=SILENCE_RATE), "wav")
    if storage.exists(key):
        return key
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SILENCE_RATE)
        out.writeframes(b"\0\0" * round(seconds * SILENCE_RATE))
    storage.put_bytes(key, buffer.getvalue())
    return key
