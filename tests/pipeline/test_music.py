"""The music library against PostgreSQL and local storage, with the real ffprobe: a track is checked before anything
is stored (a name a request can give, decodable audio, long enough, not too big), stored under ``music/<name>``
and listed with its licence; adding a name again replaces it; a refused file leaves nothing behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pipeline.config import Settings
from pipeline.errors import InvalidRequest
from pipeline.music import (
    SAMPLE_LICENCE,
    SAMPLE_TRACK,
    add_track,
    list_tracks,
    make_sample_track,
    track_names,
)
from pipeline.storage import open_storage


def _stored(settings: Settings) -> list[str]:
    music = settings.storage_root / "music"
    return sorted(p.name for p in music.iterdir()) if music.is_dir() else []


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=60)


def test_the_sample_track_is_added_listed_and_replaced(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    storage = open_storage(settings)
    track = make_sample_track(tmp_path / SAMPLE_TRACK, seconds=6)
    added = add_track(engine, storage, track, name=SAMPLE_TRACK, licence=SAMPLE_LICENCE, added_by="ana")
    assert (added.name, added.storage_key, added.duration_s) == (SAMPLE_TRACK, f"music/{SAMPLE_TRACK}", 6.0)
    assert storage.local_path(f"music/{SAMPLE_TRACK}").read_bytes() == track.read_bytes()
    assert [t.licence for t in list_tracks(engine)] == [SAMPLE_LICENCE]
    # the same name again: replaced, one row
    shorter = make_sample_track(tmp_path / "again.wav", seconds=3)
    add_track(engine, storage, shorter, name=SAMPLE_TRACK, licence="  CC0   1.0 ", added_by="bo")
    (only,) = list_tracks(engine)
    assert (only.duration_s, only.licence, only.added_by) == (3.0, "CC0 1.0", "bo")
    assert track_names(engine) == {SAMPLE_TRACK}


def test_an_mp3_with_a_cover_picture_is_audio(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    cover, mp3 = tmp_path / "cover.png", tmp_path / "with-cover.mp3"
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x64:d=1", "-frames:v", "1", str(cover))
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=2",
        "-i",
        str(cover),
        "-map",
        "0:a",
        "-map",
        "1:v",
        "-c:v",
        "png",
        "-disposition:v",
        "attached_pic",
        str(mp3),
    )
    added = add_track(engine, open_storage(settings), mp3, name="with-cover.mp3", licence="", added_by="ana")
    assert 1.9 < added.duration_s < 2.2


@pytest.mark.parametrize(
    ("kind", "name", "reason"),
    [
        ("noise", "noise.wav", "not an audio file ffprobe can read"),
        ("video", "clip.mp4", "a track's name ends in one of"),
        ("video", "clip.m4a", "not an audio file ffprobe can read"),  # a video named as audio
        ("image", "picture.mp3", "not an audio file ffprobe can read"),
        ("blip", "blip.wav", "the track is 0.3 s long; a track lasts at least 1 s"),
        ("sample", "../escape.wav", "cannot be a track's name"),
        ("sample", "sub/dir.wav", "cannot be a track's name"),
        ("sample", "track.exe", "a track's name ends in one of"),
    ],
)
def test_a_refused_file_is_said_in_one_line_and_nothing_is_stored(  # noqa: PLR0917 - pytest passes them by name
    engine: Engine, settings: Settings, tmp_path: Path, kind: str, name: str, reason: str
) -> None:
    source = tmp_path / "upload"
    if kind == "noise":
        source.write_bytes(bytes(range(256)) * 200)
    elif kind == "video":
        _ffmpeg("-f", "lavfi", "-i", "testsrc=d=2:s=160x90", "-f", "lavfi", "-i", "sine=d=2", "-f", "mp4", str(source))
    elif kind == "image":
        _ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x64:d=1", "-frames:v", "1", "-f", "image2", str(source))
    elif kind == "blip":
        _ffmpeg("-f", "lavfi", "-i", "sine=d=0.3", "-f", "wav", str(source))
    else:
        make_sample_track(source, seconds=2)
    with pytest.raises(InvalidRequest, match=reason.replace("(", r"\(")) as refused:
        add_track(engine, open_storage(settings), source, name=name, licence="", added_by="ana")
    assert "\n" not in refused.value.message
    assert list_tracks(engine) == [] and _stored(settings) == []


def test_a_licence_is_one_short_line(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    track = make_sample_track(tmp_path / "t.wav", seconds=2)
    for licence in ("x" * 201, "two\x00parts"):
        with pytest.raises(InvalidRequest, match="the licence is one line"):
            add_track(engine, open_storage(settings), track, name="t.wav", licence=licence, added_by="ana")
    assert _stored(settings) == []
