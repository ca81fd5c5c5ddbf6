"""``dag.test()`` runs with every paid provider real: google-genai, httpx, boto3 and the amazon provider's hooks
talk to stand-ins on loopback (Gemini, Stability, Polly) and to moto's server (S3, SES).

The ledger is read back from Postgres: a repeated request makes no call, a flaky image is retried alone by
Airflow, and a moderation refusal fails at once with the provider's message in the failure email.
"""

from __future__ import annotations

import email
import json
import secrets
import subprocess
import sys
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from pipeline.db import connect
from pipeline.render.probe import probe_output
from tests.dags.parsing import parse_dag
from tests.stubs import Fail
from tools.stack import AirflowSite

pytestmark = pytest.mark.fault  # three of its four runs meet a provider failure

THREE_SCENES = "\n\n".join(
    [
        "The first boats leave the harbour before sunrise.",
        "At noon the old lighthouse keeper climbs the stairs.",
        "At dusk the market closes and the gulls settle.",
    ]
)


def _conf(**overrides: Any) -> dict[str, Any]:
    token = secrets.token_hex(4)
    conf: dict[str, Any] = {
        "request_id": f"paid-{token}",
        "title": f"Harbour {token}",
        "script": "",
        "topic": f"the fish market {token}",
        "voice": "Joanna",
        "notify_emails": ["ops@example.com"],
    }
    conf.update(overrides)
    return conf


def _ledger(engine: Engine, request_id: str, run_id: str) -> dict[tuple[str, str], tuple[int, float]]:
    """(provider, outcome) -> (lines, units) for one run."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.provider, c.outcome, count(*), sum(c.units) FROM video.provider_calls c"
                " JOIN video.projects p ON p.id = c.project_id JOIN video.requests r ON r.id = p.request_id"
                " WHERE r.request_key = :k AND c.dag_run_id = :run GROUP BY 1, 2"
            ),
            {"k": request_id, "run": run_id},
        ).all()
    return {(provider, outcome): (count, float(units)) for provider, outcome, count, units in rows}


def _ses_mails(title: str) -> list[EmailMessage]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import RawMessage, ses_backends

    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    mails = [email.message_from_string(m.raw_data, policy=policy.default) for m in sent if isinstance(m, RawMessage)]
    return [m for m in mails if title in str(m["Subject"])]  # type: ignore[misc]


def _cost_report(site: AirflowSite, run_id: str) -> dict[str, Any]:
    videoctl = [str(Path(sys.executable).parent / "videoctl"), "costs"]
    db = ["--db", site.video_db.render_as_string(hide_password=False), "--run", run_id]
    completed = subprocess.run([*videoctl, *db, "--json"], capture_output=True, text=True, check=True)
    subprocess.run([*videoctl, *db], check=True)  # the table, for the log
    return dict(json.loads(completed.stdout))


def test_topic_to_video_with_every_paid_provider_and_a_free_second_run(
    providers: dict[str, Any], airflow_site: AirflowSite, video_engine: Engine, tmp_path: Path
) -> None:
    conf = _conf()
    conf["title"] = f"Market <script>alert(1)</script> & {conf['request_id']}"
    first = parse_dag().test(run_conf=conf)
    assert first.state == "success"

    gemini, stability, polly = providers["gemini"], providers["stability"], providers["polly"]
    assert len(gemini.requests) == 1 and len(stability.requests) == 3 and len(polly.calls("/v1/speech")) == 6
    ledger = _ledger(video_engine, conf["request_id"], first.run_id)
    polly_chars = ledger[("polly", "ok")][1]
    assert ledger == {
        ("gemini", "ok"): (1, 300.0),
        ("stability", "ok"): (3, 9.0),  # 3 credits per Stable Image Core picture
        ("polly", "ok"): (3, polly_chars),
    }
    assert polly_chars > 200

    with video_engine.connect() as conn:
        video_key, source = conn.execute(
            text(
                "SELECT v.video_key, s.source FROM video.rendered_videos v JOIN video.scripts s"
                " ON s.project_id = v.project_id WHERE v.dag_run_id = :run AND v.published"
            ),
            {"run": first.run_id},
        ).one()
        prompts = (
            conn.execute(
                text(
                    "SELECT sc.visual_prompt FROM video.scenes sc JOIN video.scripts s ON s.project_id = sc.project_id"
                    " JOIN video.rendered_videos v ON v.project_id = s.project_id WHERE v.dag_run_id = :run"
                    " ORDER BY sc.scene_index"
                ),
                {"run": first.run_id},
            )
            .scalars()
            .all()
        )
        models = conn.execute(
            text("SELECT DISTINCT provider || ' ' || model FROM video.provider_calls WHERE dag_run_id = :run"),
            {"run": first.run_id},
        ).scalars()
        assert set(models) == {"gemini gemini-2.5-flash", "stability core", "polly neural/Joanna"}
    assert source == "gemini"
    assert prompts[0] == f"{conf['topic']} at dawn, wide shot"  # Gemini's visual description drives the image
    local = tmp_path / "video.mp4"
    providers["s3"].download_file(providers["bucket"], video_key, str(local))
    facts = probe_output(local)
    assert (facts.video_codec, facts.audio_codec, facts.width, facts.height) == ("h264", "aac", 1280, 720)
    assert facts.duration_s > 3

    (mail,) = _ses_mails(conf["request_id"])
    body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Scenes: 3" in body and "Provider cost: $" in body and "stability: 3 calls, 0 cached" in body
    assert f"&lt;script&gt;alert(1)&lt;/script&gt; &amp; {conf['request_id']}" in html and "<script>" not in html

    # The same request again: every asset and the script come from storage, and nothing is paid for.
    second = parse_dag().test(run_conf={**conf, "rerender": True})
    assert second.state == "success"
    assert len(gemini.requests) == 1 and len(stability.requests) == 3 and len(polly.calls("/v1/speech")) == 6
    assert _ledger(video_engine, conf["request_id"], second.run_id) == {
        ("gemini", "cached"): (1, 0.0),
        ("stability", "cached"): (3, 0.0),
        ("polly", "cached"): (3, 0.0),
    }
    report_first, report_second = _cost_report(airflow_site, first.run_id), _cost_report(airflow_site, second.run_id)
    assert report_first["batch_usd"] > 0 and report_second["batch_usd"] == 0
    calls = {t["provider"]: (t["calls"], t["cached"]) for t in report_second["batch"]}
    assert calls == {"gemini": (0, 1), "polly": (0, 3), "stability": (0, 3)}


def test_a_flaky_image_is_retried_alone_and_the_video_completes(
    providers: dict[str, Any], video_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEO_RETRIES", "2")  # read when the DAG is parsed
    for name, offline in [("VIDEO_IMAGE_PROVIDER", "procedural"), ("VIDEO_VOICE_PROVIDER", "espeak")]:
        monkeypatch.setenv(name, offline)  # the request itself chooses the paid providers
    providers["stability"].plan(Fail(500, match="lighthouse"), Fail(500, match="lighthouse"))
    conf = _conf(script=THREE_SCENES, topic="", image_provider="stability", voice_provider="polly")
    run = parse_dag().test(run_conf=conf)
    assert run.state == "success"

    tries = {(ti.task_id, ti.map_index): (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert tries[("media", 1)] == ("success", 3)
    assert tries[("media", 0)] == tries[("media", 2)] == ("success", 1)
    assert {tries[("voice", i)] for i in range(3)} == {("success", 1)}
    assert len(providers["stability"].requests) == 5
    ledger = _ledger(video_engine, conf["request_id"], run.run_id)
    assert ledger.pop(("polly", "ok"))[0] == 3
    assert ledger == {("stability", "error_retryable"): (2, 0.0), ("stability", "ok"): (3, 9.0)}
    assert providers["gemini"].requests == []  # the request brought its script


def test_retry_after_sets_the_delay_airflow_waits_before_the_next_try(
    providers: dict[str, Any], airflow_site: AirflowSite
) -> None:
    providers["stability"].plan(Fail(429, retry_after=2, match="lighthouse"))
    conf = _conf(script=THREE_SCENES, topic="")
    run = parse_dag().test(run_conf=conf)
    assert run.state == "success"

    engine = connect(airflow_site.airflow_db)
    with engine.connect() as conn:
        first_try = conn.execute(
            text(
                "SELECT try_number, retry_delay_override, retry_reason FROM task_instance_history"
                " WHERE run_id = :run AND task_id = 'media' AND map_index = 1"
            ),
            {"run": run.run_id},
        ).one()
    engine.dispose()
    # the task's own delay is 1 s in the tests; the provider's Retry-After of 2 s wins, and the UI says why
    assert tuple(first_try) == (1, 2.0, "stability asked to retry after 2 s")
    tries = {(ti.task_id, ti.map_index): (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert tries[("media", 1)] == ("success", 2)


def test_a_moderation_refusal_fails_at_once_and_the_mail_says_why(
    providers: dict[str, Any], video_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEO_RETRIES", "2")
    providers["stability"].plan(Fail(403, match="lighthouse"))
    conf = _conf(script=THREE_SCENES, topic="")
    run = parse_dag().test(run_conf=conf)
    assert run.state == "failed"

    tries = {(ti.task_id, ti.map_index): (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert tries[("media", 1)] == ("failed", 1)  # no retry: a retry cannot pass moderation
    assert len([r for r in providers["stability"].requests if "lighthouse" in r["body"]]) == 1
    ledger = _ledger(video_engine, conf["request_id"], run.run_id)
    assert ledger[("stability", "error_final")] == (1, 0.0)

    (mail,) = _ses_mails(conf["title"])
    body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert mail["Subject"] == f"Video failed: {conf['title']}"
    assert "Failed task: media[1]" in body and "Try: 1" in body
    assert "HTTP 403: content_moderation: Your request was flagged by our content moderation system" in body


def test_library_then_stock_footage_then_stability_each_scene_from_the_first_source_that_has_one(
    providers: dict[str, Any], video_engine: Engine, tmp_path: Path
) -> None:
    """The team's clip for the lighthouse scene, Pexels footage for the harbour, Stability for what neither has;
    the credits are kept per scene, and a second run asks no source anything."""
    from pipeline.config import load_settings
    from pipeline.library import SAMPLE_LICENCE, add_item, make_sample_footage
    from pipeline.storage import open_storage

    storage = open_storage(load_settings(), s3_client=providers["s3"])
    footage = dict(make_sample_footage(tmp_path / "footage", width=320, height=180, seconds=2))
    sky = tmp_path / "footage" / "sunset-sky.mp4"
    add_item(video_engine, storage, sky, name="sunset-sky.mp4", tags=footage[sky], licence=SAMPLE_LICENCE, added_by="t")
    script = "\n\n".join(
        [
            "Boats crowd the harbour before sunrise.",
            "The lighthouse glows against the sunset.",
            "Accountants reconcile quarterly invoices.",
        ]
    )
    conf = _conf(script=script, topic="", media_sources=["library", "pexels"])
    first = parse_dag().test(run_conf=conf)
    assert first.state == "success"

    with video_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT sc.scene_index, m.provider, m.kind, m.credit, m.licence FROM video.media_assets m"
                " JOIN video.scenes sc ON sc.id = m.scene_id JOIN video.projects p ON p.id = sc.project_id"
                " JOIN video.requests r ON r.id = p.request_id WHERE r.request_key = :k ORDER BY 1"
            ),
            {"k": conf["request_id"]},
        ).all()
    by_scene = {index: (provider, kind, credit, licence) for index, provider, kind, credit, licence in rows}
    assert by_scene[0][:2] == ("pexels", "video") and "on Pexels: https://www.pexels.com/video/" in by_scene[0][2]
    assert by_scene[1] == ("library", "video", "sunset-sky.mp4 (team library)", SAMPLE_LICENCE)
    assert by_scene[2][:3] == ("stability", "image", None)
    ledger = _ledger(video_engine, conf["request_id"], first.run_id)
    assert ledger[("stability", "ok")] == (1, 3.0) and ledger[("library", "cached")] == (1, 0.0)
    searches = len(providers["pexels"].searches())
    assert ledger[("pexels", "ok")] == (searches, float(searches)) and searches >= 2  # scene 1's, scene 3's (none)

    second = parse_dag().test(run_conf={**conf, "rerender": True})
    assert second.state == "success"
    assert len(providers["pexels"].searches()) == searches and len(providers["stability"].requests) == 1
    again = _ledger(video_engine, conf["request_id"], second.run_id)
    assert set(again) == {("pexels", "cached"), ("library", "cached"), ("stability", "cached"), ("polly", "cached")}


def test_three_languages_share_the_pictures_and_are_made_and_published_each_on_its_own(
    providers: dict[str, Any], video_engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """English, German and French from one script: three pictures paid once (no image call for the second and
    third language), two translations by Gemini, a narration per scene and language by a voice of that language,
    three renders (one mapped instance each), all published; a second run asks no provider anything."""
    monkeypatch.setenv("VIDEO_TRANSLATOR", "gemini")
    conf = _conf(script=THREE_SCENES, topic="", image_provider="stability", translations=["de", "fr"])
    run = parse_dag().test(run_conf=conf)
    assert run.state == "success"

    ledger = _ledger(video_engine, conf["request_id"], run.run_id)
    assert ledger[("stability", "ok")] == (3, 9.0)  # the pictures of one language only
    assert ledger[("gemini", "ok")] == (2, 300.0)  # one translation per other language
    assert ledger[("polly", "ok")][0] == 9  # three scenes, three languages
    assert sorted(providers["gemini"].translations) == ["de", "fr"]
    tries = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert {tries[("render", i)] for i in range(3)} == {"success"}  # one render per language, on its own
    assert {tries[("publish", i)] for i in range(3)} == {"success"}
    with video_engine.connect() as conn:
        versions = {
            row.language: row
            for row in conn.execute(
                text(
                    "SELECT language, video_key, subtitles_key, published FROM video.rendered_videos"
                    " WHERE dag_run_id = :r"
                ),
                {"r": run.run_id},
            )
        }
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
        status = conn.execute(
            text(
                "SELECT p.status FROM video.projects p JOIN video.requests r ON r.id = p.request_id"
                " WHERE r.request_key = :k"
            ),
            {"k": conf["request_id"]},
        ).scalar_one()
    assert set(versions) == {"", "de", "fr"} and all(v.published for v in versions.values())
    assert status == "completed"
    assert voices[""] == "Joanna" and voices["de"] != voices["fr"] and "Joanna" not in (voices["de"], voices["fr"])
    for language in ("de", "fr"):
        srt = tmp_path / f"{language}.srt"
        providers["s3"].download_file(providers["bucket"], versions[language].subtitles_key, str(srt))
        assert f"[{language}]" in srt.read_text()
        assert versions[language].video_key.endswith(f".{language}.mp4")
        local = tmp_path / f"{language}.mp4"
        providers["s3"].download_file(providers["bucket"], versions[language].video_key, str(local))
        assert probe_output(local).duration_s > 3

    again = parse_dag().test(run_conf={**conf, "rerender": True})
    assert again.state == "success"
    second = _ledger(video_engine, conf["request_id"], again.run_id)
    assert set(second) == {("stability", "cached"), ("gemini", "cached"), ("polly", "cached")}
    assert second[("polly", "cached")][0] == 9 and second[("gemini", "cached")][0] == 2
