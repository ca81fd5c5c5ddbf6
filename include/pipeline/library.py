"""The team's own media library: images and clips in storage, with tags and a licence line, that scenes are
matched to by their keywords before any stock search or paid image (``media_sources`` names ``library``).

An item is checked before anything is stored (a known file type, at most ``MAX_ITEM_BYTES``, an image Pillow
decodes or a video ffprobe reads with a picture of at least ``MIN_CLIP_S``); its file is stored under the hash of
its bytes (``library/ab/abcdef….mp4``: the same file added twice is stored once), its row after it in one
transaction. Adding a name again replaces the item.

Matching needs no model: a scene's keywords and visual prompt and an item's tags are compared as Porter stems
(NLTK's stemmer carries no data). One video never shows the same item twice while another item fits a scene.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects.postgresql import insert

from pipeline.db.schema import library_items
from pipeline.errors import InvalidRequest, OutputCheckFailed
from pipeline.render.probe import ffprobe
from pipeline.storage import Storage
from pipeline.storage.base import content_key, file_sha256

MAX_ITEM_BYTES = 200 * 1024 * 1024
MAX_TAGS = 30
MAX_TAG_CHARS = 40
MIN_CLIP_S = 1.0
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".webm", ".mkv"})
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class LibraryItem:
    name: str
    storage_key: str
    kind: str  # "image" or "video"
    tags: tuple[str, ...]
    licence: str
    width: int
    height: int
    duration_s: float | None
    size_bytes: int
    added_by: str

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "tags": list(self.tags)}


def check_name(name: str) -> str:
    if not re.fullmatch(NAME_PATTERN, name):
        raise InvalidRequest(
            f"{name[:60]!r} cannot be a library item's name: use letters, digits, spaces, '.', '_' and '-' "
            "(at most 100 characters, starting with a letter or digit)"
        )
    if Path(name).suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
        known = ", ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))
        raise InvalidRequest(f"{name[:60]!r}: a library item is an image or a video file ({known})")
    return name


def check_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags as given (comma- or space-separated words are split by the caller), lower-cased, each once."""
    cleaned = tuple(dict.fromkeys(" ".join(tag.split()).casefold() for tag in tags if tag.strip()))
    if not cleaned:
        raise InvalidRequest("give the item at least one tag (words a scene about it would use): --tags sea,harbour")
    if len(cleaned) > MAX_TAGS or any(len(tag) > MAX_TAG_CHARS or not _WORD.search(tag) for tag in cleaned):
        raise InvalidRequest(f"at most {MAX_TAGS} tags, each a word or two of at most {MAX_TAG_CHARS} characters")
    return cleaned


def split_tags(text: str) -> list[str]:
    """``"sea, harbour boats"`` -> ``["sea", "harbour boats"]``: tags are separated by commas."""
    return [part.strip() for part in text.split(",") if part.strip()]


def check_licence(licence: str) -> str:
    """The licence line (as a track's, but required: an item of the library is always someone's work)."""
    from pipeline.music import check_licence as one_line

    licence = one_line(licence)
    if not licence:
        raise InvalidRequest("say under which licence the team may use it: --licence 'own footage' or 'CC0 1.0'")
    return licence


def inspect_media(
    path: Path, *, ffprobe_bin: str = "ffprobe", ffmpeg_bin: str = "ffmpeg"
) -> tuple[str, int, int, float | None]:
    """(kind, width, height, duration) of an image or a video; ``InvalidRequest`` when it is neither, truncated,
    or too short a clip. A clip's picture is decoded whole (a file cut short fails here, not in a render)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            size = image.size
            image.load()  # decodes every pixel: a truncated file fails here
        return "image", size[0], size[1], None
    except (UnidentifiedImageError, Image.DecompressionBombError):
        pass
    except (OSError, SyntaxError) as exc:
        raise InvalidRequest(f"the image cannot be read whole ({exc})") from None
    try:
        data = ffprobe(path, ffprobe_bin=ffprobe_bin, timeout_s=60)
    except OutputCheckFailed:
        data = {}
    pictures = [
        s
        for s in data.get("streams", [])
        if s.get("codec_type") == "video" and s.get("disposition", {}).get("attached_pic") != 1
    ]
    if not pictures:
        raise InvalidRequest("not an image or a video ffprobe can read (JPEG, PNG, WebP; MP4, MOV, WebM, MKV)")
    container = str(data.get("format", {}).get("format_name", ""))
    if container == "image2" or container.endswith("_pipe"):  # a picture Pillow could not decode
        raise InvalidRequest("the image cannot be read whole (it is cut short or damaged)")
    try:
        length = float(data.get("format", {}).get("duration") or pictures[0].get("duration") or 0)
    except ValueError:
        length = 0.0
    if length < MIN_CLIP_S:
        raise InvalidRequest(f"the clip is {length:.1f} s long; a clip lasts at least {MIN_CLIP_S:g} s")
    _decodes(path, ffmpeg_bin=ffmpeg_bin)
    return "video", int(pictures[0].get("width") or 0), int(pictures[0].get("height") or 0), round(length, 3)


def _decodes(path: Path, *, ffmpeg_bin: str) -> None:
    from pipeline.commands import run_program
    from pipeline.errors import RenderError

    command = [ffmpeg_bin, "-v", "error", "-xerror", "-nostdin", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"]
    completed = run_program(command, error=RenderError, timeout_s=600, check=False)
    if completed.returncode != 0 or completed.stderr.strip():
        detail = (completed.stderr.strip().splitlines() or ["no detail"])[-1][:160]
        raise InvalidRequest(
            f"the video is cut short or damaged: it cannot be decoded whole (ffmpeg: {detail}); export it again"
        )


def add_item(
    engine: Engine,
    storage: Storage,
    source: Path,
    *,
    name: str,
    tags: Iterable[str],
    licence: str,
    added_by: str,
    ffprobe_bin: str = "ffprobe",
) -> LibraryItem:
    """Check, store and list one item (see the module's docstring); ``InvalidRequest`` says what is wrong, and then
    nothing is stored."""
    name, checked_tags, licence = check_name(name), check_tags(tags), check_licence(licence)
    size = source.stat().st_size
    if size > MAX_ITEM_BYTES:
        raise InvalidRequest(f"the file is {size / 1e6:.1f} MB; at most {MAX_ITEM_BYTES / 1e6:.0f} MB")
    kind, width, height, duration = inspect_media(source, ffprobe_bin=ffprobe_bin)
    digest = file_sha256(source)
    key = content_key("library", digest, Path(name).suffix.lower().lstrip("."))
    if not storage.exists(key):
        storage.put_file(key, source)
    row: dict[str, Any] = {
        "name": name,
        "storage_key": key,
        "kind": kind,
        "tags": list(checked_tags),
        "licence": licence,
        "width": width,
        "height": height,
        "duration_s": duration,
        "size_bytes": size,
        "content_hash": digest,
        "added_by": added_by,
    }
    statement = insert(library_items).values(**row)
    statement = statement.on_conflict_do_update(index_elements=[library_items.c.name], set_=row)
    with engine.begin() as conn:
        conn.execute(statement)
    return _item(row)


def list_items(engine: Engine) -> list[LibraryItem]:
    with engine.connect() as conn:
        rows = conn.execute(select(library_items).order_by(library_items.c.name)).mappings()
        return [_item(row) for row in rows]


def get_item(engine: Engine, name: str) -> LibraryItem | None:
    with engine.connect() as conn:
        row = conn.execute(select(library_items).where(library_items.c.name == name)).mappings().one_or_none()
    return None if row is None else _item(row)


def remove_item(engine: Engine, name: str) -> bool:
    """Unlist ``name`` (its file stays: a rendered spec may still name it); False when there was none."""
    with engine.begin() as conn:
        return bool(conn.execute(delete(library_items).where(library_items.c.name == name)).rowcount)


def _item(row: Any) -> LibraryItem:
    return LibraryItem(
        name=row["name"],
        storage_key=row["storage_key"],
        kind=row["kind"],
        tags=tuple(row["tags"]),
        licence=row["licence"],
        width=row["width"],
        height=row["height"],
        duration_s=row["duration_s"],
        size_bytes=row["size_bytes"],
        added_by=row["added_by"],
    )


# -- matching ------------------------------------------------------------------------------------------------------


@cache
def _stemmer() -> Any:
    from nltk.stem.porter import PorterStemmer  # rules only: no data to download

    return PorterStemmer()


def stems(words: Iterable[str]) -> frozenset[str]:
    """The Porter stems of every word in ``words`` ("Harbours", "harbour" -> "harbour")."""
    stemmer = _stemmer()
    return frozenset(stemmer.stem(token.casefold()) for text in words for token in _WORD.findall(text))


def pick_items(scenes: Sequence[tuple[Sequence[str], str]], items: Sequence[LibraryItem]) -> list[LibraryItem | None]:
    """An item for each scene ``(keywords, visual prompt)``, or None where no item's tag matches.

    Keywords count three times as much as the prompt's other words; ties go to the item with more matching tags,
    then to the name. An item already shown in the video is taken again only when no other item matches the scene.
    """
    tagged = [(item, stems(item.tags)) for item in sorted(items, key=lambda i: i.name)]
    picked: list[LibraryItem | None] = []
    used: set[str] = set()
    for keywords, prompt in scenes:
        strong, weak = stems(keywords), stems([prompt])
        scored = []
        for item, tags in tagged:
            score = 3 * len(tags & strong) + len(tags & (weak - strong))
            if score:
                scored.append((item.name in used, -score, item.name, item))
        if not scored:
            picked.append(None)
            continue
        best = min(scored, key=lambda entry: entry[:3])[3]
        used.add(best.name)
        picked.append(best)
    return picked


def credit_of(item: LibraryItem) -> str:
    return f"{item.name} (team library)"


# the demo's footage: generated by ffmpeg from nothing, so it may be used without any licence question
SAMPLE_LICENCE = "CC0 1.0: generated by the video factory itself (pipeline.library.make_sample_footage)"
SAMPLE_FOOTAGE: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (ffmpeg lavfi source, tags)
    "sea-swell.mp4": (
        "gradients=s={w}x{h}:c0=0x0b3d5c:c1=0x2a9df4:c2=0x0e6f8f:c3=0x9fd6e8:nb_colors=4:speed=0.02:type=linear",
        ("sea", "ocean", "water", "waves", "harbour", "coast", "boat", "tide"),
    ),
    "sunset-sky.mp4": (
        "gradients=s={w}x{h}:c0=0xff7e3f:c1=0xffc857:c2=0x6a3d9a:c3=0x1b1b3a:nb_colors=4:speed=0.015:type=radial",
        ("sky", "sunset", "evening", "light", "sun", "lighthouse", "night", "dusk"),
    ),
    "city-lights.mp4": (
        "gradients=s={w}x{h}:c0=0x14213d:c1=0xfca311:c2=0xe63946:c3=0x2b2d42:c4=0xf1faee:nb_colors=5:speed=0.03:"
        "type=circular",
        ("city", "town", "street", "market", "people", "lights", "traffic", "building"),
    ),
    "forest-green.mp4": (
        "life=s={w}x{h}:mold=10:r=25:ratio=0.1:death_color=#1f3d1f:life_color=#8fd694:mold_color=#2e6b3a",
        ("forest", "trees", "green", "nature", "garden", "field", "growth", "island"),
    ),
}


def make_sample_footage(
    folder: Path, *, width: int = 640, height: int = 360, seconds: float = 6.0, ffmpeg_bin: str = "ffmpeg"
) -> list[tuple[Path, tuple[str, ...]]]:
    """Write the demo's moving sample clips into ``folder`` (each made once); returns (path, tags) of each."""
    from pipeline.commands import synthesize

    folder.mkdir(parents=True, exist_ok=True)
    made = []
    options = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-pix_fmt", "yuv420p", "-an", "-f", "mp4"]
    for name, (source, tags) in SAMPLE_FOOTAGE.items():
        dest = folder / name
        if not dest.exists():
            moving = source.format(w=width, h=height) + f",fps=25,trim=duration={seconds}"
            synthesize(dest, moving, options, ffmpeg_bin=ffmpeg_bin)
        made.append((dest, tags))
    return made
