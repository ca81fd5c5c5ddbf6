"""End-to-end runs of the DAG with ``dag.test()``: real Postgres, real espeak-ng, real ffmpeg, real callbacks."""

from __future__ import annotations

import email
import secrets
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from pipeline.render.probe import probe_output
from tests.dags.parsing import parse_dag
from tools.stack import AirflowSite

FIVE_SCENES = "\n\n".join(
    [
        "Before sunrise, the harbour is still.",
        "The first boats leave at 5.30 a.m. with their engines humming.",
        "By noon the fish market is loud with traders.",
        "In the afternoon sailors mend their nets on the quay.",
        "At dusk the lighthouse flickers on.",
    ]
)


@pytest.fixture
def dag() -> Any:
    """A freshly parsed DAG per test: dag.test() leaves a run's conf in the DAG object's params."""
    return parse_dag()


def _conf(**overrides: Any) -> dict[str, Any]:
    token = secrets.token_hex(4)
    conf = {
        "request_id": f"e2e-{token}",
        "title": f"Harbour {token}",
        "script": FIVE_SCENES,
        "voice": "en-us",
        "aspect": "16:9",
        "resolution": 720,
        "notify_emails": ["ops@example.com"],
    }
    conf.update(overrides)
    return conf


def _emails(site: AirflowSite, title: str) -> list[EmailMessage]:
    outbox = site.data_dir / "outbox"
    messages = [
        email.message_from_bytes(path.read_bytes(), policy=policy.default) for path in sorted(outbox.glob("*.eml"))
    ]
    return [m for m in messages if title in str(m["Subject"])]  # type: ignore[misc]


def _project(engine: Engine, request_key: str) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text(
                    "SELECT p.* FROM video.projects p JOIN video.requests r ON r.id = p.request_id"
                    " WHERE r.request_key = :k"
                ),
                {"k": request_key},
            )
            .mappings()
            .one()
        )


def _asset_files(site: AirflowSite) -> dict[str, int]:
    storage = site.data_dir / "storage"
    return {
        str(p.relative_to(storage)): p.stat().st_mtime_ns
        for kind in ("media", "audio")
        for p in (storage / kind).rglob("*")
        if p.is_file()
    }


def test_five_scene_request_becomes_a_checked_video_and_is_idempotent(
    dag: Any, airflow_site: AirflowSite, video_engine: Engine, count_rows: Callable[..., int]
) -> None:
    conf = _conf(scene_padding_s=0)  # the video then lasts exactly its narration (rounded up to whole frames)
    run = dag.test(run_conf=conf)
    assert run.state == "success"

    project = _project(video_engine, conf["request_id"])
    assert project["status"] == "completed" and project["error"] is None
    pid = project["id"]
    scene_ids = "scene_id IN (SELECT id FROM video.scenes WHERE project_id = :p)"
    assert count_rows("scenes", "project_id = :p", p=pid) == 5
    assert count_rows("media_assets", scene_ids, p=pid) == 5
    assert count_rows("audio_assets", scene_ids, p=pid) == 5
    assert count_rows("scripts", "project_id = :p", p=pid) == 1

    with video_engine.connect() as conn:
        narration = conn.execute(
            text(f"SELECT sum(duration_s) FROM video.audio_assets WHERE {scene_ids}"), {"p": pid}
        ).scalar_one()
        video_key = conn.execute(
            text("SELECT video_key FROM video.rendered_videos WHERE project_id = :p AND published"), {"p": pid}
        ).scalar_one()
    facts = probe_output(airflow_site.data_dir / "storage" / video_key)
    assert (facts.video_streams, facts.video_codec, facts.audio_streams, facts.audio_codec) == (1, "h264", 1, "aac")
    assert (facts.width, facts.height) == (1280, 720)
    assert abs(facts.duration_s - narration) <= 0.5
    assert (airflow_site.data_dir / "storage" / video_key).with_suffix(".srt").is_file()

    (success,) = _emails(airflow_site, conf["title"])
    assert success["Subject"] == f"Video ready: {conf['title']}"
    assert success["To"] == "ops@example.com"
    body = success.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Scenes: 5" in body and video_key.split("/")[-1] in body

    # The same request again: it has its video, so the run ends at register and makes, writes and mails nothing.
    files_before = _asset_files(airflow_site)
    paid_before = count_rows("provider_calls", "project_id = :p AND NOT cached", p=pid)
    assert paid_before == 10
    repeat = dag.test(run_conf=conf)
    assert repeat.state == "success"
    assert {ti.task_id: ti.state for ti in repeat.get_task_instances()}["register"] == "skipped"
    assert count_rows("provider_calls", "project_id = :p", p=pid) == paid_before
    assert count_rows("rendered_videos", "project_id = :p", p=pid) == 1
    assert len(_emails(airflow_site, conf["title"])) == 1
    assert _project(video_engine, conf["request_id"])["status"] == "completed"

    # Asked to make it again: no new asset files, no duplicate rows, no provider call made.
    assert dag.test(run_conf={**conf, "rerender": True}).state == "success"
    assert _asset_files(airflow_site) == files_before
    assert count_rows("requests", "request_key = :k", k=conf["request_id"]) == 1
    assert count_rows("projects", "id = :p", p=pid) == 1
    assert count_rows("scenes", "project_id = :p", p=pid) == 5
    assert count_rows("media_assets", scene_ids, p=pid) == 5
    assert count_rows("audio_assets", scene_ids, p=pid) == 5
    assert count_rows("provider_calls", "project_id = :p AND NOT cached", p=pid) == paid_before
    assert count_rows("provider_calls", "project_id = :p AND cached", p=pid) == 10
    assert count_rows("rendered_videos", "project_id = :p AND published", p=pid) == 2  # one per run
    assert len(_emails(airflow_site, conf["title"])) == 2


def test_render_failure_marks_the_project_failed_and_emails_the_reason(
    dag: Any, airflow_site: AirflowSite, video_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken_ffmpeg = tmp_path / "ffmpeg"
    broken_ffmpeg.write_text("#!/bin/sh\necho 'simulated encoder crash' >&2\nexit 1\n")
    broken_ffmpeg.chmod(0o755)
    monkeypatch.setenv("VIDEO_FFMPEG_BIN", str(broken_ffmpeg))
    conf = _conf(script="Just one scene to render.")

    run = dag.test(run_conf=conf)
    assert run.state == "failed"
    project = _project(video_engine, conf["request_id"])
    assert project["status"] == "failed"
    assert project["failed_task"] == "render[0]"  # the version of the script's own language
    assert "simulated encoder crash" in project["error"]
    assert project["error"] == "ffmpeg failed (exit 1): simulated encoder crash"  # one line a person can read
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert states[("render", 0)] == "failed"
    assert [state for (task, _), state in states.items() if task == "publish"] == ["upstream_failed"]

    (failure,) = _emails(airflow_site, conf["title"])
    assert failure["Subject"] == f"Video failed: {conf['title']}"
    body = failure.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Failed task: render[0]" in body and "simulated encoder crash" in body


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"voice": "no-such-voice"}, "unknown voice 'no-such-voice'"),
        ({"music": "missing.mp3"}, "no music track"),
        ({"image_provider": "stability"}, "the Airflow connection 'stability_default' does not exist"),
        ({"script": "", "topic": "why tides turn"}, "no script generator is configured"),
        ({"channel": "no-such-channel"}, "unknown channel 'no-such-channel': choose one of videoctl channel list"),
        ({"music_mood": "melancholy"}, "no track of mood 'melancholy' in the music library"),
        ({"translations": ["de"]}, "it asks for de but no translator is configured: set VIDEO_TRANSLATOR=gemini"),
        ({"translations": ["xx"], "translated_scripts": {"xx": "Hallo."}}, "espeak has no voice that speaks xx"),
    ],
)
def test_bad_request_fails_fast_at_register_without_retries(
    dag: Any, airflow_site: AirflowSite, video_engine: Engine, bad: dict[str, str], reason: str
) -> None:
    conf = _conf(**{"script": "Hello.", **bad})
    run = dag.test(run_conf=conf)
    assert run.state == "failed"
    states = {ti.task_id: ti for ti in run.get_task_instances()}
    register = states["register"]
    assert register.state == "failed" and register.try_number == 1  # AirflowFailException: no retry
    assert states["media"].state != "success"  # nothing was paid for
    project = _project(video_engine, conf["request_id"])
    assert (project["status"], project["failed_task"]) == ("failed", "register")
    assert reason in project["error"]
    (failure,) = _emails(airflow_site, conf["title"])
    assert reason in failure.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_emails_go_over_smtp_when_an_smtp_connection_exists(
    dag: Any, airflow_site: AirflowSite, smtp_server: Any
) -> None:
    conf = _conf(script="One scene, sent by mail.", title='<b>Bold</b> & "quoted" {{ 7 * 7 }}')
    assert dag.test(run_conf=conf).state == "success"
    assert _emails(airflow_site, conf["title"]) == []  # not in the outbox
    (message,) = smtp_server.messages
    assert smtp_server.recipients == [["ops@example.com"]]
    assert message["Subject"] == f"Video ready: {conf['title']}"
    html = message.get_body(("html",)).get_content()
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; &quot;quoted&quot; {{ 7 * 7 }}" in html  # escaped, never templated
    plain = message.get_body(("plain",)).get_content()
    assert f'Your video "{conf["title"]}" is ready.' in plain and "Scenes: 1" in plain
    assert "Provider cost: $0.0000 (estimated)" in plain and "procedural: 1 call, 0 cached, 0 failed" in plain


def test_a_request_priority_weighs_every_task_of_its_run(dag: Any, airflow_site: AirflowSite) -> None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    urgent = dag.test(run_conf=_conf(priority=70, music="missing-track.mp3"))  # fails fast at register
    plain = parse_dag().test(run_conf=_conf(music="missing-track.mp3"))
    with create_session() as session:
        weights = {
            run.run_id: {
                ti.task_id: ti.priority_weight
                for ti in session.query(TaskInstance).filter(TaskInstance.run_id == run.run_id)
            }
            for run in (urgent, plain)
        }
    assert weights[urgent.run_id]["register"] == weights[plain.run_id]["register"] + 7000
    assert weights[urgent.run_id]["publish"] == weights[plain.run_id]["publish"] + 7000
    assert weights[plain.run_id]["register"] > weights[plain.run_id]["publish"]  # a run finishes what it started


def test_a_channel_brands_the_video_and_fills_in_voice_captions_and_music_by_mood(
    dag: Any, airflow_site: AirflowSite, video_engine: Engine, tmp_path: Path
) -> None:
    """The request names only its channel: the channel's voice, word-highlight captions, a calm track, its title
    cards' colours, its logo and its intro and outro make the video; a request's own voice still wins."""
    import json

    from PIL import Image

    from pipeline.channels import check_kit, save_channel, store_logo
    from pipeline.config import load_settings
    from pipeline.music import add_track, make_sample_track
    from pipeline.storage import open_storage

    storage = open_storage(load_settings())
    logo = tmp_path / "logo.png"
    Image.new("RGBA", (120, 60), (230, 20, 20, 255)).save(logo)
    for name in ("calm-a.wav", "calm-b.wav"):
        track = make_sample_track(tmp_path / name, seconds=4)
        add_track(video_engine, storage, track, name=name, licence="CC0", added_by="t", mood="calm")
    kit = check_kit(
        {
            "logo_key": store_logo(storage, logo),
            "intro": "Harbour News",
            "outro": "Back tomorrow",
            "bumper_s": 1.5,
            "card_background": "#0B3D5C",
            "card_text": "#FFD700",
            "captions": "shorts",
            "voice": "en-gb",
            "music_mood": "calm",
        }
    )
    channel = f"news-{secrets.token_hex(3)}"
    save_channel(video_engine, channel, kit, updated_by="t")
    conf = _conf(script="Gulls follow the boats.\n\nThe market opens at noon.", channel=channel, voice=None)
    run = dag.test(run_conf=conf)
    assert run.state == "success"

    with video_engine.connect() as conn:
        voices = set(
            conn.execute(
                text(
                    "SELECT a.voice FROM video.audio_assets a JOIN video.scenes s ON s.id = a.scene_id"
                    " JOIN video.projects p ON p.id = s.project_id JOIN video.requests r ON r.id = p.request_id"
                    " WHERE r.request_key = :k"
                ),
                {"k": conf["request_id"]},
            ).scalars()
        )
        video_key = conn.execute(
            text("SELECT video_key FROM video.rendered_videos WHERE dag_run_id = :r"), {"r": run.run_id}
        ).scalar_one()
    assert voices == {"en-gb"}
    specs = [json.loads(p.read_text()) for p in (airflow_site.data_dir / "storage" / "renders").rglob("spec.json")]
    (spec,) = [s for s in specs if s["output_key"] == video_key]
    assert spec["look"]["captions"] == "shorts" and spec["look"]["music"] in {"calm-a.wav", "calm-b.wav"}
    assert spec["music_key"] == f"music/{spec['look']['music']}"
    assert spec["logo"]["key"] == kit.logo_key
    assert [scene["index"] for scene in spec["scenes"]] == [-1, 0, 1, 2]  # intro, two scenes, outro
    facts = probe_output(airflow_site.data_dir / "storage" / video_key)
    narration = sum(scene["audio_duration_s"] for scene in spec["scenes"][1:-1])
    assert facts.duration_s > narration + 3.0  # the two bumpers of 1.5 s
    # the title cards are in the channel's colours: much of each card's top row is its background (translucent
    # shapes of random places and hues lie over parts of it: one pixel alone was seen covered)
    with video_engine.connect() as conn:
        keys = conn.execute(
            text(
                "SELECT m.storage_key FROM video.media_assets m JOIN video.scenes s ON s.id = m.scene_id"
                " JOIN video.projects p ON p.id = s.project_id JOIN video.requests r ON r.id = p.request_id"
                " WHERE r.request_key = :k"
            ),
            {"k": conf["request_id"]},
        ).scalars()
        for key in keys:
            with Image.open(airflow_site.data_dir / "storage" / key) as card:
                top = [card.convert("RGB").getpixel((x, 0)) for x in range(card.width)]
                background = [p for p in top if all(abs(a - b) <= 25 for a, b in zip(p, (11, 61, 92), strict=True))]
                assert len(background) > 0.15 * len(top), top[:: len(top) // 8]  # 0.38 the least of 300 seeds


def test_a_translation_given_with_the_request_is_a_version_without_a_translator(
    dag: Any, airflow_site: AirflowSite, video_engine: Engine
) -> None:
    """German written by the requester: no translator is asked (none is configured), the German version is
    narrated by espeak-ng's German voice over the same two pictures and captioned in German; a translation that
    splits into another number of scenes fails at translate with one line."""
    script = "Gulls follow the boats.\n\nThe market opens at noon."
    german = "Möwen folgen den Booten.\n\nDer Markt öffnet am Mittag."
    conf = _conf(script=script, translations=["de"], translated_scripts={"de": german})
    run = dag.test(run_conf=conf)
    assert run.state == "success"
    with video_engine.connect() as conn:
        rows = conn.execute(
            text("SELECT language, subtitles_key, published FROM video.rendered_videos WHERE dag_run_id = :r"),
            {"r": run.run_id},
        ).all()
        voices = dict(
            conn.execute(
                text(
                    "SELECT DISTINCT a.language, a.voice FROM video.audio_assets a JOIN video.scenes s"
                    " ON s.id = a.scene_id JOIN video.projects p ON p.id = s.project_id"
                    " JOIN video.requests r ON r.id = p.request_id WHERE r.request_key = :k"
                ),
                {"k": conf["request_id"]},
            ).all()
        )
        images = conn.execute(
            text("SELECT count(*) FROM video.provider_calls WHERE dag_run_id = :r AND operation = 'image'"),
            {"r": run.run_id},
        ).scalar_one()
    versions = {language: (key, published) for language, key, published in rows}
    assert set(versions) == {"", "de"} and all(published for _, published in versions.values())
    assert voices == {"": "en-us", "de": "de"} and images == 2
    german_srt = (airflow_site.data_dir / "storage" / versions["de"][0]).read_text(encoding="utf-8")
    assert "Möwen folgen den Booten." in german_srt and "Gulls" not in german_srt

    uneven = _conf(script=script, translations=["de"], translated_scripts={"de": "Nur eine Szene."})
    failed = dag.test(run_conf=uneven)
    assert failed.state == "failed"
    project = _project(video_engine, uneven["request_id"])
    assert project["failed_task"] == "translate"
    assert project["error"].endswith(
        "translated_scripts.de splits into 1 scenes, the script into 2: give it the same paragraphs (a blank line "
        "between scenes)"
    )
