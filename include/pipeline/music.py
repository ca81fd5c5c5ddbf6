"""The music library: tracks a request may name as its background music (``music``), each stored at
``music/<name>`` with its licence, its length and who added it.

A track is checked before anything is stored (a name a request can give, at most ``MAX_TRACK_BYTES``, a file
ffprobe reads as audio of at least ``MIN_TRACK_S``); the file is stored first (written to a temporary name and
moved into place), its row after it in one transaction, so a failure in between leaves an unlisted file, never a
listed track without its file. Adding a name again replaces the track.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert

from pipeline.commands import synthesize
from pipeline.db.schema import music_tracks
from pipeline.errors import InvalidRequest, OutputCheckFailed
from pipeline.render.probe import ffprobe
from pipeline.request import MUSIC_PATTERN
from pipeline.storage import Storage
from pipeline.storage.base import file_sha256

MAX_TRACK_BYTES = 50 * 1024 * 1024
MIN_TRACK_S = 1.0
MAX_LICENCE_CHARS = 200
AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".aac"})


@dataclass(frozen=True)
class Track:
    name: str
    storage_key: str
    duration_s: float
    size_bytes: int
    licence: str
    added_by: str
    mood: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def track_key(name: str) -> str:
    return f"music/{name}"


def check_name(name: str) -> str:
    """The name a request gives to use the track: the file's name, as the ``music`` field accepts it."""
    if not re.fullmatch(MUSIC_PATTERN, name):
        raise InvalidRequest(
            f"{name[:60]!r} cannot be a track's name: use letters, digits, spaces, '.', '_' and '-' "
            "(at most 100 characters, starting with a letter or digit)"
        )
    if Path(name).suffix.lower() not in AUDIO_SUFFIXES:
        raise InvalidRequest(f"{name[:60]!r}: a track's name ends in one of {', '.join(sorted(AUDIO_SUFFIXES))}")
    return name


def check_licence(licence: str) -> str:
    licence = " ".join(licence.split())
    if len(licence) > MAX_LICENCE_CHARS or any(ord(c) < 32 for c in licence):
        raise InvalidRequest(f"the licence is one line of at most {MAX_LICENCE_CHARS} characters")
    return licence


def audio_length(path: Path, *, ffprobe_bin: str = "ffprobe") -> float:
    """The length of the file's audio in seconds; ``InvalidRequest`` when it holds no audio ffprobe can decode."""
    try:
        data = ffprobe(path, ffprobe_bin=ffprobe_bin, timeout_s=60)
    except OutputCheckFailed:
        data = {}
    streams = data.get("streams", [])
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    video = [  # a cover picture is not a video
        s for s in streams if s.get("codec_type") == "video" and s.get("disposition", {}).get("attached_pic") != 1
    ]
    try:
        length = float(data.get("format", {}).get("duration", 0) or 0)
    except ValueError:
        length = 0.0
    if not audio or video:
        raise InvalidRequest("not an audio file ffprobe can read (WAV, MP3, OGG, FLAC or M4A without video)")
    if length < MIN_TRACK_S:
        raise InvalidRequest(f"the track is {length:.1f} s long; a track lasts at least {MIN_TRACK_S:g} s")
    return length


def check_mood(mood: str | None) -> str | None:
    """A track's mood: one lower-case word (``calm``, ``upbeat``), or None."""
    from pipeline.request import MOOD_PATTERN

    if mood is None or not mood.strip():
        return None
    mood = mood.strip().lower()
    if not re.fullmatch(MOOD_PATTERN, mood):
        raise InvalidRequest(f"{mood[:40]!r} cannot be a mood: one word such as calm or upbeat (letters, digits, '-')")
    return mood


def add_track(
    engine: Engine,
    storage: Storage,
    source: Path,
    *,
    name: str,
    licence: str,
    added_by: str,
    mood: str | None = None,
) -> Track:
    """Check, store and list one track (see the module's docstring); ``InvalidRequest`` says what is wrong, and then
    nothing is stored."""
    name, licence, mood = check_name(name), check_licence(licence), check_mood(mood)
    size = source.stat().st_size
    if size > MAX_TRACK_BYTES:
        raise InvalidRequest(f"the track is {size / 1e6:.1f} MB; at most {MAX_TRACK_BYTES / 1e6:.0f} MB")
    length = audio_length(source)
    digest = file_sha256(source)
    key = track_key(name)
    storage.put_file(key, source)
    row: dict[str, Any] = {
        "name": name,
        "storage_key": key,
        "duration_s": round(length, 3),
        "size_bytes": size,
        "content_hash": digest,
        "licence": licence,
        "added_by": added_by,
        "mood": mood,
    }
    statement = insert(music_tracks).values(**row)
    statement = statement.on_conflict_do_update(index_elements=[music_tracks.c.name], set_=row)
    with engine.begin() as conn:
        conn.execute(statement)
    return Track(
        **{k: row[k] for k in ("name", "storage_key", "duration_s", "size_bytes", "licence", "added_by", "mood")}
    )


def list_tracks(engine: Engine) -> list[Track]:
    columns = (
        music_tracks.c.name,
        music_tracks.c.storage_key,
        music_tracks.c.duration_s,
        music_tracks.c.size_bytes,
        music_tracks.c.licence,
        music_tracks.c.added_by,
        music_tracks.c.mood,
    )
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).order_by(music_tracks.c.name)).mappings()
        return [Track(**row) for row in rows]


def tracks_of_mood(engine: Engine, mood: str) -> list[str]:
    """The names of the tracks of ``mood``, sorted."""
    with engine.connect() as conn:
        query = select(music_tracks.c.name).where(music_tracks.c.mood == mood).order_by(music_tracks.c.name)
        return list(conn.execute(query).scalars())


def track_names(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(music_tracks.c.name)).scalars())


SAMPLE_TRACK = "harbour-loop.wav"  # the track samples/batch.csv names
SAMPLE_LICENCE = "CC0 1.0: generated by the video factory itself (pipeline.music.make_sample_track)"


def make_sample_track(dest: Path, *, seconds: float = 24.0, ffmpeg_bin: str = "ffmpeg") -> Path:
    """A quiet, looping chord (A minor, slow swell) made by ffmpeg from nothing: music the demo and the sample batch
    may use without any licence question."""
    chord = "+".join(
        f"{gain}*sin(2*PI*{hz}*t)*(0.6+0.4*sin(2*PI*{swell}*t))"
        for gain, hz, swell in ((0.10, 220.00, 0.125), (0.07, 261.63, 0.083), (0.06, 329.63, 0.1), (0.05, 110.0, 0.05))
    )
    options = ["-af", f"afade=t=in:d=2,afade=t=out:st={seconds - 2}:d=2", "-ac", "2", "-c:a", "pcm_s16le", "-f", "wav"]
    return synthesize(dest, f"aevalsrc={chord}:s=44100:d={seconds}", options, ffmpeg_bin=ffmpeg_bin, timeout_s=60)
