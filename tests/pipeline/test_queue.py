"""The request table as content ops fill it: ``videoctl import`` and ``videoctl enqueue`` against a real PostgreSQL,
run as the console script a user types, and migration 0006 over existing rows."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from pipeline.db import VideoRepository, connect, upgrade
from pipeline.music import SAMPLE_LICENCE, SAMPLE_TRACK, make_sample_track
from pipeline.request import VideoRequest
from tools.stack import PROJECT_ROOT, AirflowSite

VIDEOCTL = Path(sys.executable).parent / "videoctl"
SAMPLE = PROJECT_ROOT / "samples" / "batch.csv"


def videoctl(*args: str, db: URL, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VIDEOCTL), *args, "--db", db.render_as_string(hide_password=False)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _rows(engine: Engine, prefix: str) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [
            dict(row)
            for row in conn.execute(
                text("SELECT * FROM video.requests WHERE request_key LIKE :p ORDER BY request_key"), {"p": f"{prefix}%"}
            ).mappings()
        ]


def _csv(tmp_path: Path, prefix: str, bad: dict[int, dict[str, str]]) -> Path:
    """The sample batch with its request ids prefixed, and some rows broken."""
    import csv

    with SAMPLE.open(encoding="utf-8", newline="") as source:
        rows = list(csv.DictReader(source))
    for index, row in enumerate(rows):
        row["request_id"] = f"{prefix}{row['request_id']}"
        row.update(bad.get(index, {}))
    path = tmp_path / "batch.csv"
    with path.open("w", encoding="utf-8", newline="") as target:
        writer = csv.DictWriter(target, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_the_sample_batch_imports_as_eight_pending_requests(
    tmp_path: Path, airflow_site: AirflowSite, video_engine: Engine
) -> None:
    # its music track, made and added as `make demo` does (the batch's rules want it in the library)
    track = make_sample_track(tmp_path / SAMPLE_TRACK)
    added = videoctl("music", "add", str(track), "--licence", SAMPLE_LICENCE, db=airflow_site.video_db)
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith(f"Added {SAMPLE_TRACK} (24.0 s)")
    path = _csv(tmp_path, "imp-", {})
    done = videoctl("import", str(path), db=airflow_site.video_db)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Inserted 8 request(s) as pending."
    rows = _rows(video_engine, "imp-")
    assert len(rows) == 8 and {row["status"] for row in rows} == {"pending"}
    assert {row["aspect"] for row in rows} == {"16:9", "9:16", "1:1"}
    assert len({row["voice"] for row in rows}) >= 4
    tide = next(row for row in rows if row["request_key"] == "imp-tide-explainer")
    assert tide["payload"]["music"] == "harbour-loop.wav" and tide["priority"] == 60
    assert tide["notify_emails"] == ["ops@example.com", "editor@example.com"]
    sunset = next(row for row in rows if row["request_key"] == "imp-sunset-pier")
    assert sunset["scheduled_for"].isoformat() == "2026-12-01T01:00:00+00:00"
    # the payload is the request as the model reads it back
    request = VideoRequest.from_conf(tide["payload"])  # type: ignore[arg-type]
    assert request.script is not None and request.script.count("\n\n") == 1 and request.resolution == 1080


def test_import_and_enqueue_refuse_what_the_batch_would_reject_naming_each_row(
    tmp_path: Path, airflow_site: AirflowSite, video_engine: Engine
) -> None:
    """The batch's own rules, beyond one request's model, at the door: a voice its provider does not have, music
    the library does not hold (a script or a topic is the model's own rule now)."""
    path = tmp_path / "rows.jsonl"
    rows = [
        {"request_id": "door-ok", "title": "Fine", "script": "Fine."},
        {"request_id": "door-voice", "title": "Voice", "script": "Hi.", "voice": "xx-klingon"},
        {"request_id": "door-music", "title": "Music", "script": "Hello.", "music": "not-in-library.wav"},
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    refused = videoctl("import", str(path), db=airflow_site.video_db)
    assert refused.returncode == 3, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert lines == [
        "rows.jsonl row 2: voice: not a voice of its provider: espeak:xx-klingon",
        "rows.jsonl row 3: music: no track not-in-library.wav in the music library: add it (videoctl music add, "
        "the Videos page) or leave it empty",
        "2 invalid row(s): nothing was inserted. Fix them, or pass --skip-invalid.",
    ]
    assert not _rows(video_engine, "door-")
    one = videoctl(
        "enqueue", "--title", "Music", "--set", "script=Hi.", "--set", "music=gone.wav", db=airflow_site.video_db
    )
    assert one.returncode == 3
    assert one.stderr.strip() == (
        "music: no track gone.wav in the music library: add it (videoctl music add, the Videos page) or leave it empty"
    )
    missing = videoctl(
        "enqueue", "--title", "T", "--script-file", str(tmp_path / "nowhere.txt"), db=airflow_site.video_db
    )
    assert (missing.returncode, missing.stderr.strip()) == (2, f"no such file: {tmp_path / 'nowhere.txt'}")


def test_a_file_with_three_bad_rows_inserts_nothing_and_names_each_row(
    tmp_path: Path, airflow_site: AirflowSite, video_engine: Engine
) -> None:
    bad = {1: {"aspect": "4:3"}, 3: {"title": "", "notify_emails": "not-an-address"}, 6: {"priority": "500"}}
    path = _csv(tmp_path, "bad-", bad)
    refused = videoctl("import", str(path), db=airflow_site.video_db)
    assert refused.returncode == 3
    lines = refused.stderr.strip().splitlines()
    assert lines[0].startswith("batch.csv row 3: aspect: must be ")  # rows as a spreadsheet numbers them
    assert any("row 5: title: required" in line for line in lines)
    assert any("row 5: notify_emails.0: must be an email address" in line for line in lines)
    assert any("row 8: priority: must be less than or equal to 100 (got 500)" in line for line in lines)
    assert lines[-1] == "3 invalid row(s): nothing was inserted. Fix them, or pass --skip-invalid."
    assert _rows(video_engine, "bad-") == []

    partly = videoctl("import", str(path), "--skip-invalid", db=airflow_site.video_db)
    assert partly.returncode == 0, partly.stderr
    assert partly.stdout.strip() == "Inserted 5 request(s) as pending; skipped 3 invalid row(s) listed above."
    assert len(_rows(video_engine, "bad-")) == 5

    again = videoctl("import", str(path), "--skip-invalid", db=airflow_site.video_db)
    assert again.returncode == 4  # the valid rows' ids are in the table now: all or nothing
    assert "is already in the request table" in again.stderr and len(_rows(video_engine, "bad-")) == 5


def test_json_lines_and_a_single_enqueue(tmp_path: Path, airflow_site: AirflowSite, video_engine: Engine) -> None:
    lines = [
        {"request_id": "jl-one", "title": "One", "script": "First.", "priority": 5},
        {"request_id": "jl-two", "title": "Two", "script": "Second.", "burn_subtitles": False},
    ]
    path = tmp_path / "requests.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    assert videoctl("import", str(path), db=airflow_site.video_db).returncode == 0
    assert [row["payload"]["burn_subtitles"] for row in _rows(video_engine, "jl-")] == [True, False]

    queued = videoctl(
        "enqueue",
        "--title",
        "From stdin",
        "--script-file",
        "-",
        "--request-id",
        "jl-three",
        "--set",
        "aspect=9:16",
        "--set",
        "notify_emails=a@example.com;b@example.com",
        "--priority",
        "70",
        db=airflow_site.video_db,
        stdin="A scene typed into the terminal.\n\nAnd a second one.",
    )
    assert queued.returncode == 0, queued.stderr
    assert queued.stdout.strip() == "Queued jl-three for the next batch."
    (row,) = [r for r in _rows(video_engine, "jl-three")]
    assert (row["aspect"], row["priority"], row["notify_emails"]) == ("9:16", 70, ["a@example.com", "b@example.com"])

    wrong = videoctl(
        "enqueue", "--title", "Bad", "--set", "voice=en\tus", "--set", "colour=red", db=airflow_site.video_db
    )
    assert wrong.returncode == 3
    assert wrong.stderr.splitlines() == [
        "colour: unknown field: remove it",
        'voice: must not contain control characters (got "en\\tus")',
    ]


def test_an_unreachable_table_is_one_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, "x-", {})
    nowhere = URL.create("postgresql+psycopg2", username="postgres", host="127.0.0.1", port=1, database="none")
    done = videoctl("import", str(path), db=nowhere)
    assert done.returncode == 5
    assert done.stderr.strip() == (
        "cannot reach the request table at postgresql+psycopg2://postgres@127.0.0.1:1/none: "
        "start it (make demo) or set VIDEO_DB_URL"
    )


def test_migration_0006_keeps_existing_requests_and_its_downgrade_works(
    fresh_database: URL, count_rows: Callable[..., int]
) -> None:
    url = fresh_database.render_as_string(hide_password=False)
    upgrade(url, "0005")
    engine = connect(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO video.requests (request_key, title, script, voice, aspect, resolution, notify_emails,"
                " status) VALUES ('old', 'Old one', 'Hello.', 'en-us', '1:1', 720, '[\"a@example.com\"]', 'processing')"
            )
        )
    upgrade(url)
    with engine.connect() as conn:
        status, payload = conn.execute(text("SELECT status, payload FROM video.requests")).one()
    assert status == "running"
    assert VideoRequest.from_conf(payload).emails == ("a@example.com",)

    from alembic import command

    from pipeline.db.migrate import alembic_config

    command.downgrade(alembic_config(url), "0005")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status, title FROM video.requests")).one() == ("processing", "Old one")
    upgrade(url)  # and up again
    repository = VideoRepository(engine)
    registered = repository.register(VideoRequest.from_conf(payload), dag_run_id="run-x", run_is_active=lambda _: False)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status, dag_run_id FROM video.requests")).one() == ("running", "run-x")
    assert registered.made_by("run-x")
    engine.dispose()


@pytest.mark.parametrize("line", ["not json", "[1, 2]"])
def test_a_broken_json_line_is_a_row_problem(tmp_path: Path, airflow_site: AirflowSite, line: str) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps({"request_id": "jl-ok", "title": "Fine", "script": "Hi."}) + "\n" + line + "\n")
    done = videoctl("import", str(path), db=airflow_site.video_db)
    assert done.returncode == 3 and "broken.jsonl row 2: row: not " in done.stderr


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("deep.jsonl", "[" * 100_000 + "]" * 100_000, "deep.jsonl row 1: row: not JSON this tool reads"),
        (
            "big.jsonl",
            '{"title": "t", "script": "x", "priority": ' + "9" * 5000 + "}",
            "big.jsonl row 1: row: not JSON",
        ),
        (
            "big.csv",
            "title,script,priority\nT,Hi.,%s\n" % ("9" * 5000),
            "big.csv row 2: priority: must be a valid integer",
        ),
        ("nul.csv", "title,script\nT\x00,Hi.\n", "nul.csv row 2: title: "),
        ("latin1.csv", "title,script\nCaf\xe9,Hi.\n", "the file is not UTF-8 text: save it as UTF-8"),
    ],
)
def test_a_hostile_file_is_one_line_per_problem_and_inserts_nothing(
    tmp_path: Path, airflow_site: AirflowSite, name: str, content: str, line: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content.encode("latin-1") if name.startswith("latin1") else content.encode())
    refused = videoctl("import", str(path), db=airflow_site.video_db)
    assert refused.returncode == 3, refused.stderr
    assert "Traceback" not in refused.stderr and refused.stderr.startswith(line), refused.stderr
    assert all(len(text) < 300 for text in refused.stderr.splitlines())


def test_videoctl_library_adds_lists_and_removes_items_and_refuses_a_broken_file_in_one_line(
    tmp_path: Path, airflow_site: AirflowSite
) -> None:
    from pipeline.library import make_sample_footage

    clips = [path for path, _ in make_sample_footage(tmp_path, width=160, height=90, seconds=1.5)][:2]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clips[0].read_bytes()[:2000])
    added = videoctl(
        "library",
        "add",
        *map(str, clips),
        str(broken),
        "--tags",
        "harbour, sea wall",
        "--licence",
        "CC0 1.0",
        db=airflow_site.video_db,
    )
    assert added.returncode == 3, added.stderr
    assert added.stdout.splitlines() == [
        f"Added video {clips[0].name} (160x90, 1.5 s), tags: harbour, sea wall",
        f"Added video {clips[1].name} (160x90, 1.5 s), tags: harbour, sea wall",
    ]
    (refusal,) = added.stderr.splitlines()
    assert refusal.startswith("broken.mp4: ") and "Traceback" not in added.stderr
    listed = videoctl("library", "list", "--json", db=airflow_site.video_db)
    names = {item["name"] for item in json.loads(listed.stdout)}
    assert {clips[0].name, clips[1].name} <= names and "broken.mp4" not in names
    assert videoctl("library", "remove", clips[1].name, db=airflow_site.video_db).returncode == 0
    missing = videoctl("library", "remove", clips[1].name, db=airflow_site.video_db)
    assert missing.returncode == 7 and missing.stderr.strip() == (
        f"no item '{clips[1].name}' in the library (videoctl library list shows them)"
    )
    no_tags = videoctl("library", "add", str(clips[0]), "--licence", "own", db=airflow_site.video_db)
    assert no_tags.returncode == 3 and "at least one tag" in no_tags.stderr


def test_videoctl_music_add_takes_a_track_and_refuses_what_is_not_audio_in_one_line(
    tmp_path: Path, airflow_site: AirflowSite
) -> None:
    from pipeline.music import make_sample_track

    track = make_sample_track(tmp_path / "calm-cli.wav", seconds=4)
    silent = tmp_path / "not-audio.wav"
    silent.write_text("just words", encoding="utf-8")
    added = videoctl(
        "music",
        "add",
        str(track),
        str(silent),
        "--mood",
        "calm",
        "--licence",
        "made by ffmpeg",
        db=airflow_site.video_db,
    )
    assert added.returncode == 3, added.stderr
    assert added.stdout.splitlines() == ["Added calm-cli.wav (4.0 s): a request may name it as its music."]
    (refusal,) = added.stderr.splitlines()
    assert refusal.startswith("not-audio.wav: ") and "Traceback" not in added.stderr


def test_videoctl_channel_set_changes_the_caption_look_and_refuses_an_unknown_font(airflow_site: AirflowSite) -> None:
    changed = videoctl(
        "channel",
        "set",
        "cli-news",
        "--captions",
        "boxed",
        "--caption-font",
        "DejaVu Serif",
        "--caption-colours",
        "#FFFF00,,#202060",
        "--caption-position",
        "middle",
        "--caption-words-per-line",
        "4",
        "--webhook",
        "cms=https://cms.example/hooks/video",
        db=airflow_site.video_db,
    )
    assert changed.returncode == 0, changed.stderr
    listed = json.loads(videoctl("channel", "list", "--json", db=airflow_site.video_db).stdout)
    (kit,) = [channel for channel in listed if channel["name"] == "cli-news"]
    assert (kit["caption_font"], kit["caption_colour"], kit["caption_highlight"], kit["caption_outline_colour"]) == (
        "DejaVu Serif",
        "#FFFF00",
        None,
        "#202060",
    )
    assert (kit["caption_position"], kit["caption_words_per_line"], kit["captions"]) == ("middle", 4, "boxed")
    assert kit["destinations"] == [
        {"name": "cms", "kind": "webhook", "url": "https://cms.example/hooks/video", "connection": "webhook_cms"}
    ]
    refused = videoctl("channel", "set", "cli-news", "--caption-font", "Comic Nowhere", db=airflow_site.video_db)
    assert refused.returncode == 3 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().startswith("cli-news: invalid channel: caption_font: no font family 'Comic Nowhere'")
    assert len(refused.stderr.strip().splitlines()) == 1
    again = json.loads(videoctl("channel", "list", "--json", db=airflow_site.video_db).stdout)
    assert [c["caption_font"] for c in again if c["name"] == "cli-news"] == ["DejaVu Serif"]  # unchanged
