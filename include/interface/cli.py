"""``videoctl``: the video factory from a terminal.

    videoctl submit tides.txt --title "Tides" --voice en-gb --aspect 9:16 --wait   # one video now, over the API
    videoctl status video__tides          videoctl list --status failed --since 2026-11-01
    videoctl retry video__tides           videoctl cancel video__tides
    videoctl import samples/batch.csv     # rows for the nightly batch; nothing inserted unless all are valid
    videoctl enqueue --title "Tides" --script-file tides.txt --set voice=en-gb --priority 80
    videoctl batch 2026-11-26             videoctl costs --since 2026-11-01 --json
    videoctl music add loop.wav --licence "CC0, made in-house"      videoctl music list
    videoctl library add quay.mp4 gulls.jpg --tags "harbour, boats" --licence "own footage"

Airflow's REST API: ``AIRFLOW_API_URL`` and ``AIRFLOW_API_TOKEN`` or ``AIRFLOW_USERNAME``/``AIRFLOW_PASSWORD``
(defaults: the ``make demo`` stack). The request table and the cost ledger: ``--db`` or ``VIDEO_DB_URL`` (default:
the demo's database). Every error is one line. Exit codes: 0 done, 1 the video failed or Airflow answered an error,
2 wrong usage (a missing file too), 3 invalid request, rows or track (nothing written), 4 already exists (nothing
written), 5 Airflow or the database cannot be reached, 6 credentials refused, 7 not found, 8 not allowed for this
user.
"""

from __future__ import annotations

import functools
import getpass
import inspect
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from typer._click import exceptions as usage  # typer 0.29 carries its own click

from interface.airflow_api import (
    EXIT_CONFLICT,
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_NOT_FOUND,
    EXIT_UNREACHABLE,
    Airflow,
    ApiProblem,
)
from pipeline.config import PROJECT_ROOT
from pipeline.constants import DagId
from pipeline.markdown import literal, plain
from pipeline.names import safe_name

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from pipeline.queue import Problem, QueuedRequest

EXIT_TAKEN = EXIT_CONFLICT
EXIT_USAGE = 2  # as click: wrong usage (a missing file included)
DEMO_DB = f"postgresql+psycopg2://postgres@/video_factory?host={PROJECT_ROOT / '.local' / 'pg' / 'data'}"

app = typer.Typer(help="The video factory from a terminal.", no_args_is_help=True, add_completion=False)
out, err = Console(soft_wrap=True), Console(stderr=True, soft_wrap=True)  # one line per message, never wrapped
DbOption = Annotated[str, typer.Option("--db", envvar="VIDEO_DB_URL", help="The video_factory database's URL.")]
ByOption = Annotated[str | None, typer.Option("--submitted-by", help="Who submits (default: your login name).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
RunArgument = Annotated[str, typer.Argument(help="A run id (video__...) or a request id.")]
ENDED = ("success", "failed")
CANCEL_CHECKS, CANCEL_SETTLE_S = 3, 2.0


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A .csv or .jsonl file of requests.")],
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Insert the valid rows, list the rest.")] = False,
    submitted_by: ByOption = None,
    db: DbOption = DEMO_DB,
) -> None:
    """Check every row of FILE against the request model and the nightly batch's own rules (a script or a topic, a
    voice of its provider, music of the library), then insert them as pending, all or none."""
    from pipeline.queue import check_rows, read_rows

    prefix = safe_name(file.stem, limit=60, fallback="import")
    valid, problems = check_rows(read_rows(file), id_prefix=prefix, submitted_by=submitted_by or getpass.getuser())
    valid, problems = _batch_checked(valid, problems, db)
    for problem in problems:
        err.print(f"{file.name} {problem}", markup=False, highlight=False)
    if problems and not skip_invalid:
        bad = len({p.row for p in problems})
        err.print(f"{bad} invalid row(s): nothing was inserted. Fix them, or pass --skip-invalid.", markup=False)
        raise typer.Exit(EXIT_INVALID)
    _insert(valid, db)
    skipped = len({p.row for p in problems})
    note = f"; skipped {skipped} invalid row(s) listed above" if skipped else ""
    out.print(f"Inserted {len(valid)} request(s) as pending{note}.", markup=False)


@app.command()
def enqueue(
    *,
    title: Annotated[str, typer.Option("--title", help="The video's title.")],
    script_file: Annotated[
        Path | None, typer.Option("--script-file", help="The narration: a text file, or - for standard input.")
    ] = None,
    fields: Annotated[
        list[str] | None, typer.Option("--set", help="Any other request field, as FIELD=VALUE (repeatable).")
    ] = None,
    request_id: Annotated[str | None, typer.Option("--request-id", help="Default: cli-<UTC time>.")] = None,
    priority: Annotated[int, typer.Option(help="0-100, higher first.")] = 0,
    at: Annotated[
        str | None, typer.Option("--at", help="Not before this time (ISO 8601); default: next batch.")
    ] = None,
    submitted_by: ByOption = None,
    db: DbOption = DEMO_DB,
) -> None:
    """Put one request in the table for the next batch."""
    from pipeline.queue import check_rows, typed_cells

    cells: dict[str, str | None] = {"title": title, "request_id": request_id, "scheduled_for": at}
    for item in fields or []:
        name, equals, value = item.partition("=")
        if not equals:
            err.print(f"--set {item}: write it as FIELD=VALUE", markup=False)
            raise typer.Exit(EXIT_INVALID)
        cells[name.strip()] = value
    if script_file is not None:
        cells["script"] = sys.stdin.read() if str(script_file) == "-" else script_file.read_text(encoding="utf-8")
    raw = {**typed_cells(cells), "priority": priority}
    stamp = f"cli-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    valid, problems = check_rows([(1, raw)], id_prefix=stamp, submitted_by=submitted_by or getpass.getuser())
    valid, problems = _batch_checked(valid, problems, db)
    for problem in problems:
        err.print(f"{problem.field}: {problem.message}", markup=False, highlight=False)
    if problems:
        raise typer.Exit(EXIT_INVALID)
    _insert(valid, db)
    out.print(f"Queued {valid[0].request.key} for the next batch.", markup=False)


def _batch_checked(
    valid: list[QueuedRequest], problems: list[Problem], db: str
) -> tuple[list[QueuedRequest], list[Problem]]:
    """The rows that also pass the nightly batch's suite (the same Great Expectations rules the batch runs), and
    every problem, sorted by row: a row the batch would reject is refused now, while its author is here."""
    from pipeline.batch_checks import validate_batch
    from pipeline.config import load_settings
    from pipeline.music import track_names
    from pipeline.queue import Problem

    if not valid:
        return valid, problems
    settings = load_settings()
    rows = [
        {"id": item.row, "request_key": item.request.key, "payload": item.request.to_conf(), "scheduled_for": None}
        for item in valid
    ]
    from pipeline.channels import list_channels

    with _database(db) as engine:
        music = track_names(engine)
        kits = {channel.name: channel.kit for channel in list_channels(engine)}
    verdict = validate_batch(
        rows,
        voices_of=lambda provider: _voices_here(settings, provider, rows),
        default_voice_provider=settings.providers.voice_provider,
        due_by=datetime.now(UTC),
        known_music=music,
        channels=kits,
    )
    found = [
        Problem(row_id, reason["field"], reason["message"])
        for row_id, reasons in verdict.rejected.items()
        for reason in reasons
    ]
    passed = set(verdict.valid)
    return [item for item in valid if item.row in passed], sorted([*problems, *found], key=lambda p: p.row)


def _voices_here(settings: Any, provider: str, rows: list[dict[str, Any]]) -> frozenset[str]:
    """The voices of a provider as this machine can list them; when it cannot (no AWS credentials here), the
    rows' own voices, with one line saying that the batch will check them."""
    from pipeline.voice import open_voice_provider

    try:
        client = None
        if provider == "polly":
            import boto3

            client = boto3.client("polly")
        return frozenset(open_voice_provider(settings, provider, polly_client=client).voices())
    except Exception as exc:
        err.print(
            f"cannot list the voices of {provider} here ({type(exc).__name__}): the batch will check them",
            markup=False,
            highlight=False,
        )
        return frozenset(
            str(row["payload"].get("voice"))
            for row in rows
            if (row["payload"].get("voice_provider") or settings.providers.voice_provider) == provider
        )


def _insert(valid: list[QueuedRequest], db: str) -> None:
    from pipeline.db import connect
    from pipeline.queue import enqueue

    engine = connect(db)
    try:
        taken = enqueue(engine, valid)
    except OperationalError:
        err.print(
            f"cannot reach the request table at {make_url(db).render_as_string(hide_password=True)}: "
            "start it (make demo) or set VIDEO_DB_URL",
            markup=False,
        )
        raise typer.Exit(EXIT_UNREACHABLE) from None
    finally:
        engine.dispose()
    for problem in taken:
        err.print(str(problem), markup=False, highlight=False)
    if taken:
        err.print("Nothing was inserted: choose other request ids.", markup=False)
        raise typer.Exit(EXIT_TAKEN)


music_app = typer.Typer(help="The music library: tracks a request may name as its background music.")
app.add_typer(music_app, name="music")


@music_app.command("add")
def music_add(
    files: Annotated[list[Path], typer.Argument(help="Audio files (WAV, MP3, OGG, FLAC, M4A); each keeps its name.")],
    licence: Annotated[str, typer.Option("--licence", help="Where the track is from and under which licence.")] = "",
    mood: Annotated[str | None, typer.Option("--mood", help="One word a request or channel picks it by: calm.")] = None,
    added_by: ByOption = None,
    db: DbOption = DEMO_DB,
) -> None:
    """Check each track (a name a request can give, a readable audio file, at most 50 MB) and add it to the
    library, replacing a track of the same name; a refused file stores nothing."""
    from pipeline.config import load_settings
    from pipeline.music import add_track
    from pipeline.storage import open_storage

    storage = open_storage(load_settings())

    def add(engine: Engine, path: Path) -> str:
        track = add_track(
            engine, storage, path, name=path.name, licence=licence, added_by=added_by or getpass.getuser(), mood=mood
        )
        return f"Added {track.name} ({track.duration_s:.1f} s): a request may name it as its music."

    _add_files(files, db, add)


@music_app.command("list")
def music_list(as_json: JsonOption = False, db: DbOption = DEMO_DB) -> None:
    """The library's tracks: name, length, licence."""
    from pipeline.music import list_tracks

    with _database(db) as engine:
        tracks = [track.as_dict() for track in list_tracks(engine)]
    if as_json:
        _print_json(tracks)
        return
    for track in tracks:
        out.print(
            f"{track['name']}  {track['duration_s']:.1f} s  {track['mood'] or '-'}  "
            f"{track['licence'] or '(no licence given)'}",
            markup=False,
            highlight=False,
        )


library_app = typer.Typer(help="The media library: the team's tagged images and clips, matched to scenes first.")
app.add_typer(library_app, name="library")


@library_app.command("add")
def library_add(
    files: Annotated[
        list[Path], typer.Argument(help="Images (JPEG, PNG, WebP) or clips (MP4, MOV, WebM, MKV); each keeps its name.")
    ],
    tags: Annotated[
        str, typer.Option("--tags", help="Comma-separated words a scene about it would use: 'harbour, boats, sea'.")
    ] = "",
    licence: Annotated[str, typer.Option("--licence", help="Where it is from and under which licence.")] = "",
    added_by: ByOption = None,
    db: DbOption = DEMO_DB,
) -> None:
    """Check each file (an image that decodes, a clip ffprobe reads and ffmpeg decodes whole, at most 200 MB) and
    add it with its tags, replacing an item of the same name; a refused file stores nothing."""
    from pipeline.config import load_settings
    from pipeline.library import add_item, split_tags
    from pipeline.storage import open_storage

    settings = load_settings()
    storage = open_storage(settings)

    def add(engine: Engine, path: Path) -> str:
        item = add_item(
            engine,
            storage,
            path,
            name=path.name,
            tags=split_tags(tags),
            licence=licence,
            added_by=added_by or getpass.getuser(),
            ffprobe_bin=settings.ffprobe_bin,
        )
        length = f", {item.duration_s:.1f} s" if item.duration_s else ""
        return f"Added {item.kind} {item.name} ({item.width}x{item.height}{length}), tags: {', '.join(item.tags)}"

    _add_files(files, db, add)


@library_app.command("list")
def library_list(as_json: JsonOption = False, db: DbOption = DEMO_DB) -> None:
    """The library's items: name, kind, size, tags, licence."""
    from pipeline.library import list_items

    with _database(db) as engine:
        items = [item.as_dict() for item in list_items(engine)]
    if as_json:
        _print_json(items)
        return
    for item in items:
        out.print(
            f"{item['name']}  {item['kind']} {item['width']}x{item['height']}  tags: {', '.join(item['tags'])}  "
            f"{item['licence']}",
            markup=False,
            highlight=False,
        )


@library_app.command("remove")
def library_remove(name: Annotated[str, typer.Argument(help="The item's name.")], db: DbOption = DEMO_DB) -> None:
    """Take an item out of the library (videos already made keep it)."""
    from pipeline.library import remove_item

    with _database(db) as engine:
        if not remove_item(engine, name):
            raise ApiProblem(f"no item {name!r} in the library (videoctl library list shows them)", EXIT_NOT_FOUND)
    out.print(f"Removed {name}: no new video will use it.", markup=False, highlight=False)


channel_app = typer.Typer(
    help="Channels: brand kits (logo, intro and outro, colours, captions, voice, music, sources)."
)
app.add_typer(channel_app, name="channel")


@channel_app.command("set")
def channel_set(  # noqa: PLR0917 - one option per field of the brand kit
    name: Annotated[str, typer.Argument(help="The channel's name (letters, digits, '.', '_', '-').")],
    title: Annotated[str | None, typer.Option(help="The channel's display name.")] = None,
    logo: Annotated[Path | None, typer.Option(help="An image (PNG with transparency is best): the watermark.")] = None,
    logo_position: Annotated[str | None, typer.Option(help="top-left, top-right, bottom-left, bottom-right.")] = None,
    logo_opacity: Annotated[float | None, typer.Option(help="0.1 to 1.")] = None,
    logo_width: Annotated[float | None, typer.Option(help="The logo's width, 0.04 to 0.4 of the frame's.")] = None,
    intro: Annotated[str | None, typer.Option(help="Text of the intro card.")] = None,
    outro: Annotated[str | None, typer.Option(help="Text of the outro card.")] = None,
    intro_clip: Annotated[str | None, typer.Option(help="A clip of the media library as the intro.")] = None,
    outro_clip: Annotated[str | None, typer.Option(help="A clip of the media library as the outro.")] = None,
    bumper_s: Annotated[float | None, typer.Option(help="How long intro and outro last, 1 to 8 s.")] = None,
    colours: Annotated[str | None, typer.Option(help="Card background and text: '#0B3D5C,#FFFFFF'.")] = None,
    card_font: Annotated[str | None, typer.Option(help="The title cards' font family, e.g. 'DejaVu Serif'.")] = None,
    captions: Annotated[str | None, typer.Option(help="classic, boxed or shorts.")] = None,
    caption_font: Annotated[
        str | None, typer.Option(help="A font family (fc-list : family), e.g. 'DejaVu Serif'.")
    ] = None,
    caption_colours: Annotated[
        str | None, typer.Option(help="Text, spoken word and outline (or band) colours: '#FFFFFF,#FFD700,#000000'.")
    ] = None,
    caption_size: Annotated[int | None, typer.Option(help="Per cent of the preset's text size, 50 to 200.")] = None,
    caption_outline: Annotated[float | None, typer.Option(help="Times the preset's outline, 0 to 3.")] = None,
    caption_position: Annotated[str | None, typer.Option(help="bottom, middle or top (inside the safe zone).")] = None,
    caption_words_per_line: Annotated[int | None, typer.Option(help="At most this many words a line, 1 to 12.")] = None,
    voice: Annotated[str | None, typer.Option(help="The default voice.")] = None,
    voice_provider: Annotated[str | None, typer.Option(help="espeak or polly.")] = None,
    music: Annotated[str | None, typer.Option(help="A track of the music library.")] = None,
    music_mood: Annotated[str | None, typer.Option(help="Pick the track by this mood instead.")] = None,
    media_sources: Annotated[str | None, typer.Option(help="Comma-separated: library, pexels.")] = None,
    webhook: Annotated[
        list[str] | None,
        typer.Option(
            help="A destination NAME=URL its finished videos are POSTed to, signed with the password of the Airflow "
            "connection webhook_NAME (repeat for more; '' removes them all)."
        ),
    ] = None,
    updated_by: ByOption = None,
    db: DbOption = DEMO_DB,
) -> None:
    """Create a channel, or change the given fields of one (the others stay); "" clears a field."""
    from pipeline.channels import check_kit, check_name, get_channel, save_channel, store_logo
    from pipeline.config import load_settings
    from pipeline.errors import InvalidRequest
    from pipeline.storage import open_storage

    given: dict[str, Any] = {
        "title": title,
        "logo_position": logo_position,
        "logo_opacity": logo_opacity,
        "logo_width": logo_width,
        "intro": intro,
        "outro": outro,
        "intro_clip": intro_clip,
        "outro_clip": outro_clip,
        "bumper_s": bumper_s,
        "captions": captions,
        "card_font": card_font,
        "caption_font": caption_font,
        "caption_size": caption_size,
        "caption_outline": caption_outline,
        "caption_position": caption_position,
        "caption_words_per_line": caption_words_per_line,
        "voice": voice,
        "voice_provider": voice_provider,
        "music": music,
        "music_mood": music_mood,
    }
    changes = {key: (value if value != "" else None) for key, value in given.items() if value is not None}
    if colours is not None:
        parts = [part.strip() for part in colours.split(",") if part.strip()]
        changes["card_background"], changes["card_text"] = [*parts, None, None][:2] if parts else (None, None)
    if caption_colours is not None:
        given_colours: list[str | None] = [part.strip() or None for part in caption_colours.split(",")]
        names = ("caption_colour", "caption_highlight", "caption_outline_colour")
        changes.update(dict(zip(names, [*given_colours, None, None, None][:3], strict=True)))
    if webhook is not None:
        hooks = [(name.strip(), url.strip()) for name, _, url in (hook.partition("=") for hook in webhook if hook)]
        changes["webhooks"] = [
            {"name": name, "kind": "webhook", "url": url, "connection": f"webhook_{name}"} for name, url in hooks
        ]
    if media_sources is not None:
        changes["media_sources"] = [part.strip() for part in media_sources.split(",") if part.strip()] or None
    if logo is not None and not logo.is_file():
        raise FileNotFoundError(2, "no such file", str(logo))
    try:
        check_name(name)
        with _database(db) as engine:
            current = get_channel(engine, name)
            values = {**(current.kit.model_dump(mode="json") if current else {}), **changes}
            if "webhooks" in values:  # the webhooks given replace the channel's webhooks; other destinations stay
                kept = [d for d in values.get("destinations") or () if d.get("kind") != "webhook"]
                values["destinations"] = [*kept, *values.pop("webhooks")] or None
            if logo is not None:
                values["logo_key"] = store_logo(open_storage(load_settings()), logo)
            kit = check_kit(values)
            save_channel(engine, name, kit, updated_by=updated_by or getpass.getuser())
    except InvalidRequest as exc:
        raise ApiProblem(f"{name}: {exc.message}", EXIT_INVALID) from None
    verb = "Changed" if current else "Added"
    out.print(f"{verb} channel {name}: a request names it with channel={name}", markup=False, highlight=False)


@channel_app.command("connect")
def channel_connect(  # noqa: PLR0917 - one option per YouTube setting
    name: Annotated[str, typer.Argument(help="The channel (videoctl channel set makes one).")],
    made_for_kids: Annotated[
        bool,
        typer.Option(
            "--made-for-kids/--not-made-for-kids",
            help="YouTube's 'made for kids' question, answered for every video of the channel (required).",
        ),
    ],
    client_secrets: Annotated[
        Path | None,
        typer.Option(help="The OAuth client file (type 'Desktop app') from the Google Cloud console."),
    ] = None,
    destination: Annotated[str, typer.Option(help="The destination's name in the channel.")] = "youtube",
    privacy: Annotated[str, typer.Option(help="private, unlisted or public.")] = "private",
    release_at: Annotated[
        str | None, typer.Option(help="HH:MM UTC: each video stays private and goes public at the next such time.")
    ] = None,
    playlist: Annotated[str | None, typer.Option(help="A playlist id each video is added to.")] = None,
    category: Annotated[str, typer.Option(help="YouTube's category id (22: People & Blogs).")] = "22",
    daily_quota: Annotated[int, typer.Option(help="The API units the channel may spend a day.")] = 10_000,
    port: Annotated[
        int, typer.Option(help="The local port Google sends the browser back to (0: any; forward it over SSH).")
    ] = 0,
    refresh_token: Annotated[
        str | None, typer.Option(help="A refresh token you already have (no browser step).", envvar="YOUTUBE_TOKEN")
    ] = None,
    api_endpoint: Annotated[str | None, typer.Option(hidden=True, help="A private endpoint of the API.")] = None,
    ca_certs: Annotated[
        Path | None, typer.Option(hidden=True, help="Certificates the endpoint is checked with.")
    ] = None,
    db: DbOption = DEMO_DB,
) -> None:
    """Connect a channel to its YouTube channel: a person signs in to Google in a browser and allows uploads;
    the grant goes into an Airflow connection and the channel's videos are uploaded from then on."""
    from pydantic import ValidationError

    from pipeline.channels import YouTubeDestination, check_kit, check_name, get_channel, save_channel
    from pipeline.errors import InvalidRequest
    from pipeline.publish.youtube import TOKEN_URI
    from pipeline.request import field_problems

    check_name(name)
    conn_id = f"{destination}_{name}" if destination != "youtube" else f"youtube_{name}"
    try:
        wanted = YouTubeDestination(
            name=destination,
            connection=conn_id,
            made_for_kids=made_for_kids,
            privacy=privacy,
            release_at=release_at,
            category_id=category,
            playlist_id=playlist,
            daily_quota=daily_quota,
        )
    except ValidationError as exc:
        said = "; ".join(f"{field}: {rule}" for field, rule in field_problems(exc))
        raise ApiProblem(f"{name}: invalid YouTube destination: {said}", EXIT_INVALID) from None
    with _database(db) as engine:
        current = get_channel(engine, name)
    if current is None:
        raise ApiProblem(f"no channel {name!r}: add it first with videoctl channel set {name}", EXIT_NOT_FOUND)
    client = _oauth_client(client_secrets) if client_secrets else None
    if client is None and refresh_token is None:
        raise ApiProblem("give --client-secrets FILE (the OAuth client from the Google Cloud console)", EXIT_INVALID)
    client_id, client_secret, token_uri = client or (
        os.environ.get("YOUTUBE_CLIENT_ID", ""),
        os.environ.get("YOUTUBE_CLIENT_SECRET", ""),
        TOKEN_URI,
    )
    if refresh_token is None and client_secrets is not None:
        refresh_token = _consent(client_secrets, port)
    extra = {"refresh_token": refresh_token or "", "token_uri": token_uri}
    extra.update({k: str(v) for k, v in (("api_endpoint", api_endpoint), ("ca_certs", ca_certs)) if v})
    _check_grant(client_id, client_secret, extra)
    with _api() as api:
        api.save_connection(
            conn_id,
            conn_type="generic",
            description=f"YouTube uploads of channel {name} (videoctl channel connect)",
            login=client_id,
            password=client_secret,
            extra=json.dumps(extra),
        )
    with _database(db) as engine:
        values = current.kit.model_dump(mode="json")
        others = [d for d in values.get("destinations") or () if d.get("name") != destination]
        values["destinations"] = [*others, wanted.model_dump(mode="json")]
        try:
            save_channel(engine, name, check_kit(values), updated_by=getpass.getuser())
        except InvalidRequest as exc:
            raise ApiProblem(f"{name}: {exc.message}", EXIT_INVALID) from None
    release = f", public at {release_at} UTC" if release_at else ""
    out.print(
        f"Connected channel {name} to YouTube (connection {conn_id}; {wanted.privacy}{release}; made for kids: "
        f"{'yes' if made_for_kids else 'no'}): its finished videos are uploaded by video_publishing.",
        markup=False,
        highlight=False,
    )


def _oauth_client(path: Path) -> tuple[str, str, str]:
    """(client id, secret, token URI) of an OAuth client file; one line when it is not one."""
    from pipeline.publish.youtube import TOKEN_URI

    if not path.is_file():
        raise FileNotFoundError(2, "no such file", str(path))
    try:
        data = json.loads(path.read_text())
        client = data.get("installed") or data.get("web")
        return str(client["client_id"]), str(client["client_secret"]), str(client.get("token_uri") or TOKEN_URI)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ApiProblem(
            f"{path.name} is not an OAuth client file: download one of type 'Desktop app' from the Google Cloud "
            "console (APIs & Services, Credentials)",
            EXIT_INVALID,
        ) from None


def _consent(client_secrets: Path, port: int) -> str:
    """A person allows the uploads in a browser; the refresh token Google gives for it."""
    from google_auth_oauthlib.flow import InstalledAppFlow

    from pipeline.publish.youtube import SCOPES

    flow = InstalledAppFlow.from_client_secrets_file(str(client_secrets), scopes=list(SCOPES))
    try:
        credentials = flow.run_local_server(
            host="localhost",
            port=port,
            open_browser=False,
            authorization_prompt_message=(
                "Open this address in a browser signed in to the Google account that owns the YouTube channel, "
                "and allow the uploads:\n{url}"
            ),
            success_message="The channel is connected: you may close this tab.",
            access_type="offline",
            prompt="consent",
        )
    except Exception as exc:  # oauthlib's, requests' and the local server's errors alike: one line, no traceback
        said = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ApiProblem(
            f"Google did not grant the uploads ({said}): run videoctl channel connect again", EXIT_FAILED
        ) from None
    if not credentials.refresh_token:
        raise ApiProblem(
            "Google gave no refresh token: remove the app at myaccount.google.com/permissions and connect again",
            EXIT_FAILED,
        )
    return str(credentials.refresh_token)


def _check_grant(client_id: str, client_secret: str, extra: dict[str, str]) -> None:
    """One token refresh with the grant: a refused one is said now, not at the first upload."""
    from pipeline.errors import ProviderError
    from pipeline.publish.youtube import YouTubeAccount, check_account

    try:
        check_account(YouTubeAccount(client_id=client_id, client_secret=client_secret, **extra))
    except ProviderError as exc:
        raise ApiProblem(exc.message, EXIT_FAILED) from None


@channel_app.command("list")
def channel_list(as_json: JsonOption = False, db: DbOption = DEMO_DB) -> None:
    """The channels and what each sets."""
    from pipeline.channels import list_channels

    with _database(db) as engine:
        found = [channel.as_dict() for channel in list_channels(engine)]
    if as_json:
        _print_json(found)
        return
    for channel in found:
        settings = ", ".join(
            f"{key}={value}" for key, value in channel.items() if key not in {"name", "updated_by"} and value
        )
        out.print(f"{channel['name']}  {settings}", markup=False, highlight=False)


@app.command()
def status(run: RunArgument, as_json: JsonOption = False) -> None:
    """A video run's state, title, failed task and reason, or its video."""
    with _api() as api:
        facts = _run_facts(api, _run_id(run, api))
    if as_json:
        _print_json(facts)
        return
    out.print(_facts_line(facts), markup=False, highlight=False)


@app.command("list")
def list_runs(
    since: Annotated[str | None, typer.Option(help="Only runs from this date or time on (ISO 8601).")] = None,
    state: Annotated[str | None, typer.Option("--status", help="queued, running, success or failed.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """The newest video runs."""
    with _api() as api:
        found = api.call(
            "list the runs",
            api.runs.get_dag_runs,
            DagId.VIDEO,
            limit=limit,
            order_by=["-run_after"],
            state=[state] if state else None,
            run_after_gte=_moment(since) if since else None,
        )
        keys = {r.dag_run_id: str((r.conf or {}).get("request_id") or "") for r in found.dag_runs}
        sent = api.publications(list(keys.values()))
    runs = [
        {
            "run_id": r.dag_run_id,
            "state": _state_of(r),
            "title": plain(r.note or ""),
            "run_after": r.run_after.isoformat() if r.run_after else None,
            "publications": sent.get(keys[r.dag_run_id], []),
        }
        for r in found.dag_runs
    ]
    if as_json:
        _print_json(runs)
        return
    from rich.table import Table

    table = Table(box=None, show_header=True)
    for column in ("run", "state", "started", "title", "published"):
        table.add_column(column, no_wrap=column not in {"title", "published"})
    for run in runs:
        # Text, not a string: Rich would read "[click]" in a title as its markup and drop it
        cells = (
            run["run_id"],
            run["state"],
            (run["run_after"] or "")[:19],
            run["title"],
            _published(run["publications"]),
        )
        table.add_row(*(Text(value) for value in cells))
    Console(width=max(out.width, 140)).print(table)


@app.command()
def retry(run: RunArgument) -> None:
    """Run a video's failed tasks again (and what comes after them); its finished tasks are kept."""
    from airflow_client.client.models import DAGRunClearBody

    with _api() as api:
        run_id = _run_id(run, api)
        body = DAGRunClearBody(dry_run=False, only_failed=True)
        cleared = api.call("retry the run", api.runs.clear_dag_run, DagId.VIDEO, run_id, body)
    instance = getattr(cleared, "actual_instance", cleared)
    count = len(getattr(instance, "task_instances", []) or [])
    out.print(f"Retrying {count} task(s) of {run_id}: videoctl status {run_id}", markup=False)


@app.command()
def cancel(run: RunArgument, db: DbOption = DEMO_DB) -> None:
    """Stop a video run; its request is marked cancelled (a finished video is kept)."""
    from airflow_client.client.models import DAGRunPatchBody

    who = getpass.getuser()
    with _api() as api:
        run_id = _run_id(run, api)
        state = str(_state_of(api.call(f"read run {run_id}", api.runs.get_dag_run, DagId.VIDEO, run_id)))
        if state in ENDED:
            raise ApiProblem(f"{run_id} has already ended ({state}): nothing to cancel", EXIT_CONFLICT)
        body = DAGRunPatchBody(state="failed", note=f"Cancelled by {who}")
        for attempt in range(CANCEL_CHECKS):
            try:
                api.call(
                    "cancel the run", api.runs.patch_dag_run, DagId.VIDEO, run_id, body, update_mask=["state", "note"]
                )
            except ApiProblem as problem:
                # the scheduler may hold the run's row at that moment: Airflow 3.3.2 then answers 500; try again
                if (problem.status or 0) < 500 or attempt == CANCEL_CHECKS - 1:
                    raise
            time.sleep(CANCEL_SETTLE_S)
            # The scheduler may have been deciding on the run as it was cancelled: with no task running at that
            # moment every task is skipped, and its decision ("all done") can still land as success. Again then.
            if _state_of(api.call(f"read run {run_id}", api.runs.get_dag_run, DagId.VIDEO, run_id)) == "failed":
                break
    with _database(db) as engine:
        from pipeline.db import VideoRepository

        VideoRepository(engine).cancel(dag_run_id=run_id, reason=f"cancelled by {who}")
    out.print(f"Cancelled {run_id}.", markup=False)


@app.command()
def batch(
    night: Annotated[str | None, typer.Argument(help="The batch's date (YYYY-MM-DD); default: the latest.")] = None,
    as_json: JsonOption = False,
) -> None:
    """A night's batch: counts by status, rejected rows and why, minutes of video, wall time and cost."""
    with _api() as api:
        query: dict[str, Any] = {"limit": 5, "order_by": ["-run_after"]}
        if night:
            day = datetime.combine(date.fromisoformat(night), datetime.min.time(), tzinfo=UTC)
            query.update(run_after_gte=day, run_after_lt=day + timedelta(days=1))
        runs = api.call("list the batches", api.runs.get_dag_runs, DagId.BATCH, **query).dag_runs
        if not runs:
            raise ApiProblem(f"no nightly batch ran {'on ' + night if night else 'yet'}", EXIT_NOT_FOUND)
        summaries = [
            {
                "run_id": r.dag_run_id,
                "state": _state_of(r),
                "note": plain(r.note or "") or None,
                "summary": api.return_value(DagId.BATCH, r.dag_run_id, "summarize"),
            }
            for r in runs
        ]
    if as_json:
        _print_json(summaries)
        return
    for item in summaries:
        summary = item["summary"] or {}
        line = item["note"] or ("still running" if item["state"] not in ENDED else item["state"])
        out.print(f"{item['run_id']}: {line}", markup=False, highlight=False)
        for rejected in summary.get("rejected", []):
            reasons = "; ".join(f"{r['field']}: {r['message']}" for r in rejected["reasons"])
            out.print(f"  rejected {rejected['request_key']}: {reasons}", markup=False, highlight=False)
        for failed in summary.get("failed", []):
            out.print(f"  failed {failed['request_key']}: {failed['error']}", markup=False, highlight=False)


@app.command()
def costs(
    run: Annotated[str | None, typer.Option(help="Only calls of this DAG run.")] = None,
    request: Annotated[list[str] | None, typer.Option(help="A request id (repeatable); default: all.")] = None,
    since: Annotated[str | None, typer.Option(help="Only calls from this date or time on (ISO 8601).")] = None,
    as_json: JsonOption = False,
    db: DbOption = DEMO_DB,
) -> None:
    """What the paid providers cost, per video and in all, from the ledger (calls, cache hits, units, USD)."""
    from pipeline.config import load_settings
    from pipeline.costs import ledger_rows, print_report, report

    with _database(db) as engine:
        rows = ledger_rows(engine, request_keys=request or [], since=_moment(since) if since else None, run_id=run)
    data = report(rows, load_settings())
    if as_json:
        _print_json(data)
    else:
        print_report(data)


def _submit_signature() -> inspect.Signature:
    """``videoctl submit``'s options: one per request field, generated from the request model's schema."""
    from pipeline.request import form_fields

    params = [
        inspect.Parameter(
            "script_file",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[str | None, typer.Argument(help="The narration: a text file, or - for stdin.")],
        ),
        inspect.Parameter(
            "wait",
            inspect.Parameter.KEYWORD_ONLY,
            default=False,
            annotation=Annotated[bool, typer.Option("--wait", help="Follow the run to its end with a progress bar.")],
        ),
    ]
    for name, schema in form_fields().items():
        params.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=_option(name, schema))
        )
    return inspect.Signature(params)


def _option(name: str, schema: dict[str, Any]) -> Any:
    flag = "--" + name.replace("_", "-")
    kinds: list[Any] = schema["type"] if isinstance(schema.get("type"), list) else [schema.get("type")]
    help_text = " ".join(str(schema.get("description") or schema.get("title") or "").split())
    if "boolean" in kinds:
        return Annotated[bool | None, typer.Option(f"{flag}/--no-{flag[2:]}", help=help_text)]
    if "array" in kinds:
        return Annotated[list[str] | None, typer.Option(flag, help=help_text + " (repeatable)")]
    if "object" in kinds:  # by language: LANGUAGE=FILE, repeatable
        return Annotated[list[str] | None, typer.Option(flag, help=help_text + " As LANGUAGE=FILE, repeatable.")]
    if "enum" in schema:
        choices = ", ".join(str(value) for value in schema["enum"] if value is not None)
        return Annotated[str | None, typer.Option(flag, help=f"{help_text} One of: {choices}.".strip())]
    kind = int if "integer" in kinds else float if "number" in kinds else str
    return Annotated[kind | None, typer.Option(flag, help=help_text)]


def submit(*, script_file: str | None = None, wait: bool = False, **fields: Any) -> None:
    """Make one video now: SCRIPT_FILE (or - for standard input) narrated with the options given. The request is
    checked here first: nothing reaches Airflow unless it is valid."""
    from airflow_client.client.models import TriggerDAGRunPostBody

    from pipeline.request import checked_request, form_fields, run_id_for

    types = form_fields()
    conf = {name: value for name, value in fields.items() if value is not None and value != []}
    for name, value in list(conf.items()):
        if "enum" in types[name] and isinstance(value, str) and value.isdigit():
            conf[name] = int(value)  # e.g. --resolution 1080
        if "object" in types[name].get("type", []):  # --translated-scripts de=tides.de.txt
            conf[name] = _files_by_key(value)
    if script_file is not None:
        conf["script"] = sys.stdin.read() if script_file == "-" else Path(script_file).read_text(encoding="utf-8")
    request, problems = checked_request(conf, default_id=f"cli-{datetime.now(UTC):%Y%m%dT%H%M%S}")
    if problems or request is None:
        for field, message in problems:
            err.print(f"{field}: {message}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INVALID)
    run_id = run_id_for(request.key)
    with _api() as api:
        body = TriggerDAGRunPostBody(
            dag_run_id=run_id, logical_date=None, conf={**conf, "request_id": request.key}, note=literal(request.title)
        )
        try:
            api.call("submit the video", api.runs.trigger_dag_run, DagId.VIDEO, body)
        except ApiProblem as problem:
            if problem.exit_code == EXIT_CONFLICT:
                problem.message = (
                    f"request {request.key} was submitted before (run {run_id}): see videoctl status {run_id}, "
                    "or submit with another --request-id (and --rerender to make it again)"
                )
            raise
        out.print(f"Submitted {request.key} as run {run_id}.", markup=False, highlight=False)
        if wait:
            facts = follow(api, run_id)
            out.print(_facts_line(facts), markup=False, highlight=False)
            if facts["state"] != "success":
                raise typer.Exit(EXIT_FAILED)


def _files_by_key(entries: list[str]) -> dict[str, str]:
    """``["de=tides.de.txt"]`` -> ``{"de": <the file's text>}``; a missing file is a usage error (exit 2)."""
    texts = {}
    for entry in entries:
        key, sep, name = entry.partition("=")
        if not sep or not key or not name:
            raise typer.BadParameter(f"{entry!r}: give LANGUAGE=FILE, e.g. de=tides.de.txt")
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(2, "no such file", name)
        texts[key.strip()] = path.read_text(encoding="utf-8")
    return texts


def follow(api: Airflow, run_id: str, *, poll_s: float = 2.0) -> dict[str, Any]:
    """A progress bar of scenes imaged and voiced, the current task and retries, until the run ends."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        bar = progress.add_task("waiting for the scheduler", total=None)
        while True:
            run = api.call("follow the run", api.runs.get_dag_run, DagId.VIDEO, run_id)
            state = _state_of(run)
            tis = api.call(
                "follow the run", api.task_instances.get_task_instances, DagId.VIDEO, run_id, limit=1000
            ).task_instances
            scenes = [ti for ti in tis if ti.task_id in ("media", "voice") and (ti.map_index or 0) >= 0]
            done = sum(1 for ti in scenes if _state_of(ti) == "success")
            going = sorted({_label(ti) for ti in tis if _state_of(ti) == "running"})
            retried = sorted({_label(ti) for ti in tis if (ti.try_number or 0) > 1})
            text = ", ".join(going) or state
            if retried:
                text += f" (retried: {', '.join(retried)})"
            progress.update(
                bar, description=f"scenes imaged and voiced · {text}", completed=done, total=len(scenes) or None
            )
            if state in ENDED:
                break
            time.sleep(poll_s)
    return _run_facts(api, run_id)


def _state_of(item: Any) -> str:
    """A run's or task instance's state as text (the client gives an enum, or None before it has one)."""
    return str(getattr(item.state, "value", item.state))


def _label(ti: Any) -> str:
    return f"{ti.task_id}[{ti.map_index}]" if (ti.map_index or -1) >= 0 else str(ti.task_id)


def _run_facts(api: Airflow, run_id: str) -> dict[str, Any]:
    run = api.call(f"read run {run_id}", api.runs.get_dag_run, DagId.VIDEO, run_id)
    state = _state_of(run)
    conf = run.conf or {}
    facts: dict[str, Any] = {
        "run_id": run_id,
        "state": state,
        "title": conf.get("title"),
        "request_id": conf.get("request_id"),
        "note": plain(run.note or "") or None,
        "video_url": None,
        "duration_s": None,
        "waiting_for": None,
    }
    if state == "success":
        published = api.return_value(DagId.VIDEO, run_id, "publish", map_index=0) or {}  # the script's own language
        facts.update(video_url=published.get("video_url"), duration_s=published.get("duration_s"))
        facts["publications"] = api.publications([facts["request_id"] or ""]).get(facts["request_id"] or "", [])
    elif state == "running":
        review = api.http.get(f"/dags/{DagId.VIDEO}/dagRuns/{run_id}/taskInstances/review")
        if review.status_code == 200 and review.json().get("state") == "awaiting_input":
            facts["waiting_for"] = "review"
    return facts


def _facts_line(facts: dict[str, Any]) -> str:
    if facts.get("waiting_for") == "review":
        return (
            f"{facts['run_id']}: waiting for a script review; an editor (a user who may edit {DagId.VIDEO}'s runs: "
            f"roles User, Op or Admin) answers in Airflow, Browse → Required actions, or on the Videos page"
        )
    head = f"{facts['run_id']}: {facts['state']}"
    if facts["video_url"]:
        sent = _published(facts.get("publications") or [], reasons=True)
        return f"{head}; video {facts['video_url']} ({facts['duration_s']:.1f} s)" + (
            f"; published: {sent}" if sent else ""
        )
    if facts["note"] and facts["note"] != facts["title"]:
        return f"{head}; {facts['note']}"
    return f"{head}; {facts['title'] or ''}".rstrip("; ")


def _published(sent: list[dict[str, Any]], *, reasons: bool = False) -> str:
    """ "youtube live (ID) · cms failed: REASON" for each destination and version."""
    parts = []
    for p in sent:
        where = p["destination"] + (f" {p['language']}" if p["language"] else "")
        said = f"{where} {p['status']}" + (f" ({p['external_id']})" if p["external_id"] and reasons else "")
        parts.append(said + (f": {p['error']}" if reasons and p["error"] and p["status"] != "live" else ""))
    return " · ".join(parts)


def _run_id(run: str, api: Airflow) -> str:
    """A run id as given, or a request id's run: the one ``submit`` names, else its newest run (the nightly
    batch's are ``video__REQUEST__DATE``)."""
    from pipeline.request import run_id_for

    if "__" in run:
        return run
    found = api.call(
        f"find the run of {run}",
        api.runs.get_dag_runs,
        DagId.VIDEO,
        run_id_prefix_pattern=run_id_for(run),
        order_by=["-run_after"],
        limit=20,
    )
    ids = [r.dag_run_id for r in found.dag_runs if r.dag_run_id.split("__")[1] == run]
    return run_id_for(run) if not ids or run_id_for(run) in ids else ids[0]


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date or time like 2026-11-01 or 2026-11-01T08:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def _api() -> Iterator[Airflow]:
    api = Airflow()
    try:
        yield api
    finally:
        if "client" in api.__dict__:
            api.client.__exit__(None, None, None)  # closes its connection pool


def _add_files(files: list[Path], db: str, add: Callable[[Engine, Path], str]) -> None:
    """Add each file with ``add`` (which returns its line of output); a refused file is said on stderr in one line
    and the others are still added; any refusal ends with the invalid-input exit code."""
    from pipeline.errors import InvalidRequest

    refused = 0
    with _database(db) as engine:
        for path in files:
            if not path.is_file():
                raise FileNotFoundError(2, "no such file", str(path))
            try:
                said = add(engine, path)
            except InvalidRequest as exc:
                err.print(f"{path.name}: {exc.message}", markup=False, highlight=False)
                refused += 1
                continue
            out.print(said, markup=False, highlight=False)
    if refused:
        raise typer.Exit(EXIT_INVALID)


@contextmanager
def _database(db: str) -> Iterator[Engine]:
    from pipeline.db import connect

    engine = connect(db)
    try:
        yield engine
    except OperationalError:
        raise ApiProblem(
            f"cannot reach the request table at {make_url(db).render_as_string(hide_password=True)}: "
            "start it (make demo) or set VIDEO_DB_URL",
            EXIT_UNREACHABLE,
        ) from None
    finally:
        engine.dispose()


submit.__signature__ = _submit_signature()  # type: ignore[attr-defined]


def main() -> None:
    app.command()(_guarded(submit))
    commands = [app, music_app, library_app, channel_app]
    for info in [command for typer_app in commands for command in typer_app.registered_commands]:
        if info.callback is not None and info.callback is not submit:
            info.callback = _guarded(info.callback)
    try:
        code = app(prog_name="videoctl", standalone_mode=False)
    except usage.NoArgsIsHelpError as exc:
        out.print(exc.ctx.get_help() if exc.ctx else "", markup=False, highlight=False)
        sys.exit(0)
    except usage.UsageError as exc:  # one line, not click's usage block: what is wrong, and where help is
        where = exc.ctx.command_path if exc.ctx else "videoctl"
        err.print(f"{exc.format_message()} (see {where} --help)", markup=False, highlight=False)
        sys.exit(EXIT_USAGE)
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """A command whose ``ApiProblem`` ends the program with its one line and exit code (no traceback)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ApiProblem as problem:
            err.print(problem.message, markup=False, highlight=False)
            raise typer.Exit(problem.exit_code) from None
        except FileNotFoundError as exc:
            err.print(f"no such file: {exc.filename}", markup=False, highlight=False)
            raise typer.Exit(EXIT_USAGE) from None
        except IsADirectoryError as exc:
            err.print(f"{exc.filename} is a folder: give a file", markup=False, highlight=False)
            raise typer.Exit(EXIT_USAGE) from None
        except PermissionError as exc:
            err.print(f"cannot read {exc.filename}: permission denied", markup=False, highlight=False)
            raise typer.Exit(EXIT_USAGE) from None
        except UnicodeDecodeError:
            err.print("the file is not UTF-8 text: save it as UTF-8", markup=False, highlight=False)
            raise typer.Exit(EXIT_INVALID) from None

    return run


if __name__ == "__main__":
    main()
