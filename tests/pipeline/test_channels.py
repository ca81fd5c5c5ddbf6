"""Channels against PostgreSQL and local storage: a brand kit is checked in one line, fills in only what a request
leaves empty, keeps a checked logo, and the render draws its watermark, intro and outro (frames read back)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat
from sqlalchemy import Engine

from pipeline.brand import branded
from pipeline.channels import apply_channel, check_kit, get_channel, list_channels, save_channel, store_logo
from pipeline.config import Settings
from pipeline.errors import InvalidRequest
from pipeline.fonts import family_face
from pipeline.images.procedural import ProceduralImages
from pipeline.models import CardLook, RenderSpec
from pipeline.production import with_defaults
from pipeline.render.probe import probe_output
from pipeline.render.timeline import plan_timeline
from pipeline.request import VideoRequest
from pipeline.storage import open_storage
from tests.stubs import make_clip


def _logo(path: Path) -> Path:
    logo = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    logo.paste((230, 20, 20, 255), (0, 0, 200, 100))
    logo.save(path)
    return path


def test_a_kit_is_checked_in_one_line_and_saved_listed_and_replaced(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_kit({"card_background": "blue", "logo_opacity": 3, "captions": "comic"})
    message = refused.value.message
    assert message.startswith("invalid channel: ") and "\n" not in message
    assert "card_background" in message and "logo_opacity" in message and "captions" in message
    storage = open_storage(settings)
    key = store_logo(storage, _logo(tmp_path / "logo.png"))
    assert key.startswith("brand/") and key.endswith(".png") and storage.exists(key)
    kit = check_kit({"title": "Harbour News", "logo_key": key, "captions": "shorts", "voice": "en-gb"})
    save_channel(engine, "harbour-news", kit, updated_by="ana")
    save_channel(engine, "harbour-news", kit.model_copy(update={"voice": "de"}), updated_by="bo")
    (channel,) = list_channels(engine)
    assert (channel.name, channel.kit.voice, channel.updated_by) == ("harbour-news", "de", "bo")
    assert get_channel(engine, "nope") is None
    with pytest.raises(InvalidRequest, match=r"intro_clip: no clip 'gone\.mp4' in the media library"):
        save_channel(engine, "x", check_kit({"intro_clip": "gone.mp4"}), updated_by="ana")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(30))
    with pytest.raises(InvalidRequest, match="not an image Pillow can read"):
        store_logo(storage, broken)


def test_a_channel_fills_in_only_what_the_request_leaves_empty() -> None:
    kit = check_kit(
        {
            "voice": "en-gb",
            "voice_provider": "espeak",
            "captions": "shorts",
            "music_mood": "calm",
            "media_sources": ["library"],
        }
    )
    bare = VideoRequest.from_conf({"title": "t", "script": "Words.", "channel": "c"})
    filled = with_defaults(apply_channel(bare, kit))
    assert (filled.voice, filled.voice_provider, filled.look.captions, filled.look.music_mood) == (
        "en-gb",
        "espeak",
        "shorts",
        "calm",
    )
    assert filled.media_sources == ("library",)
    own = VideoRequest.from_conf(
        {
            "title": "t",
            "script": "Words.",
            "channel": "c",
            "voice": "fr",
            "captions": "boxed",
            "music": "a.wav",
            "media_sources": [],
        }
    )
    kept = with_defaults(apply_channel(own, kit))
    assert (kept.voice, kept.look.captions, kept.look.music, kept.look.music_mood, kept.media_sources) == (
        "fr",
        "boxed",
        "a.wav",
        None,
        (),
    )
    assert with_defaults(bare).voice == "en-us" and with_defaults(bare).look.captions == "classic"


def _frame(video: Path, seconds: float, dest: Path) -> Image.Image:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-ss", f"{seconds:.3f}", "-i", str(video), "-frames:v", "1", str(dest)],
        check=True,
    )
    return Image.open(dest).convert("RGB")


def test_the_render_draws_the_watermark_and_the_intro_and_outro_cards(
    settings: Settings, make_render_spec: Any, run_render: Any, tmp_path: Path
) -> None:
    storage = open_storage(settings)
    grey = tmp_path / "grey.png"
    Image.new("RGB", (640, 360), (90, 90, 90)).save(grey)
    storage.put_file("media/grey.png", grey)
    kit = check_kit(
        {
            "logo_key": store_logo(storage, _logo(tmp_path / "logo.png")),
            "logo_position": "top-right",
            "logo_opacity": 1.0,
            "logo_width": 0.2,
            "intro": "Harbour News",
            "outro": "See you tomorrow",
            "card_background": "#0B3D5C",
            "card_text": "#FFD700",
            "bumper_s": 1.5,
        }
    )
    plain = RenderSpec.model_validate_json(
        make_render_spec(["One scene of words."], width=640, height=360, media={0: "media/grey.png"}).read_text()
    )
    spec = branded(plain, kit, storage=storage, clip_key=lambda name: None)
    assert [s.index for s in spec.scenes] == [-1, 0, 1] and spec.logo is not None
    path = tmp_path / "branded.json"
    path.write_text(spec.model_dump_json())
    completed = run_render(path)
    assert completed.returncode == 0, completed.stderr
    video = storage.local_path(spec.output_key)
    timeline = plan_timeline(spec)
    assert probe_output(video).duration_s == pytest.approx(timeline.duration_s, abs=0.05)
    assert timeline.duration_s == pytest.approx(plan_timeline(plain).duration_s + 3.0, abs=0.1)

    intro = _frame(video, 0.5, tmp_path / "intro.png")
    middle = _frame(video, 1.5 + plain.scenes[0].audio_duration_s / 2, tmp_path / "middle.png")
    outro = _frame(video, timeline.duration_s - 0.5, tmp_path / "outro.png")
    # the intro and outro are cards of the channel's colour, with its text (gold) and logo (red) in the middle
    for card in (intro, outro):
        assert card.getpixel((20, 340)) == pytest.approx((11, 61, 92), abs=8)
        golden = sum(1 for p in card.getdata() if p[0] > 200 and p[1] > 170 and p[2] < 90)
        assert golden > 300
    # the scene: grey, with the logo (128x64, red) in the top-right corner inside the margin, nowhere else
    margin = round(360 * 0.04)
    for card in (intro, outro):  # the cards show the logo large in their middle, not the watermark as well
        assert card.getpixel((640 - margin - 64, margin + 32)) == pytest.approx((11, 61, 92), abs=8)
    assert middle.getpixel((640 - margin - 64, margin + 32)) == pytest.approx((230, 20, 20), abs=20)
    assert middle.getpixel((margin + 64, margin + 32)) == pytest.approx((90, 90, 90), abs=6)
    assert middle.getpixel((640 - margin - 64, 360 - margin - 32)) == pytest.approx((90, 90, 90), abs=6)


def test_a_kit_with_an_unknown_font_is_refused_in_one_line() -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_kit({"caption_font": "Comic Sans Nowhere"})
    assert "no font family 'Comic Sans Nowhere' is installed" in refused.value.message
    assert "DejaVu Sans" in refused.value.message and "\n" not in refused.value.message
    with pytest.raises(InvalidRequest, match="caption_font"):  # a comma would end the subtitle style's field
        check_kit({"caption_font": "DejaVu Sans,Bold"})
    kit = check_kit({"caption_font": "dejavu serif", "caption_size": 130, "caption_position": "top"})
    assert kit.caption_look is not None and kit.caption_look.position == "top"
    assert check_kit({"title": "No caption changes"}).caption_look is None


def test_an_intro_from_the_library_is_the_clip_over_silence(
    settings: Settings, make_render_spec: Any, run_render: Any, tmp_path: Path
) -> None:
    """A channel whose intro is a library clip: the spec's first scene is that clip for the bumper's length, and
    the render shows it moving before the first scene."""
    storage = open_storage(settings)
    clip = make_clip(tmp_path / "intro.mp4", 320, 180)
    storage.put_file("library/intro.mp4", clip)
    kit = check_kit({"intro_clip": "intro.mp4", "bumper_s": 2.0})
    plain = RenderSpec.model_validate_json(make_render_spec(["One scene."], width=640, height=360).read_text())
    spec = branded(
        plain, kit, storage=storage, clip_key=lambda name: "library/intro.mp4" if name == "intro.mp4" else None
    )
    intro = spec.scenes[0]
    assert (intro.index, intro.media_kind, intro.media_key, intro.audio_duration_s) == (
        -1,
        "video",
        "library/intro.mp4",
        2.0,
    )
    assert len(spec.scenes) == 2  # no outro: the kit has none
    path = tmp_path / "intro.json"
    path.write_text(spec.model_dump_json())
    completed = run_render(path)
    assert completed.returncode == 0, completed.stderr
    video = storage.local_path(spec.output_key)
    first, later = _frame(video, 0.3, tmp_path / "i0.png"), _frame(video, 1.5, tmp_path / "i1.png")
    assert ImageStat.Stat(first.convert("L")).stddev[0] > 20  # testsrc2's pattern, not a card
    assert first.tobytes() != later.tobytes()  # and it moves


def test_a_channels_card_font_draws_its_title_cards(tmp_path: Path) -> None:
    """The title cards' text in the channel's font (the fallback stack after it), the font part of the card's
    cache key; a family fontconfig does not have is none (and refused when a channel is saved)."""
    serif = family_face("DejaVu Serif")
    assert serif is not None and "Serif" in serif.path and family_face("Comic Nowhere") is None
    cards = {}
    for font in (None, "DejaVu Serif"):
        dest = tmp_path / f"card-{font}.png"
        provider = ProceduralImages(CardLook(palette=("#0B3D5C", "#FFFFFF"), font=font))
        provider.generate(
            prompt="The harbour",
            title="Harbour",
            keywords=("harbour",),
            scene_number=1,
            width=640,
            height=360,
            dest=dest,
        )
        cards[font] = Image.open(dest).convert("RGB")
        inputs = provider.cache_inputs(
            prompt="The harbour", title="Harbour", keywords=("harbour",), scene_number=1, width=640, height=360
        )
        assert inputs.get("font") == font
    assert ImageChops.difference(cards[None], cards["DejaVu Serif"]).getbbox() is not None  # other letters
    with pytest.raises(InvalidRequest, match="card_font: no font family 'Comic Nowhere' is installed"):
        check_kit({"card_font": "Comic Nowhere"})
