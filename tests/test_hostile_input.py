"""Hostile requests, as a new user or an attacker would send them: each is refused with HTTP 400 and a one-line
reason before anything is written, or becomes a valid video whose subtitles and email carry the text intact.

The table is checked twice: fast, against the Param schema and the request model (they must agree); then through a
running Airflow's REST API (marked slow), where the accepted ones become real videos.
"""

from __future__ import annotations

import email
import email.policy
import json
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

import httpx
import pytest

from pipeline.errors import InvalidRequest
from pipeline.request import VideoRequest
from tests.dags.test_request_form import model_accepts, schema_accepts
from tests.stack_helpers import DAG, wait_for
from tools.stack import AirflowSite

WORD_JOINER = "\u2060"  # the subtitles put one after a backslash or a brace, so they stay text


@dataclass(frozen=True)
class Refused:
    name: str
    conf: dict[str, Any]
    field: str  # the field the one-line reason must name
    door_only: bool = False  # a rule Airflow's Params cannot state: only the API's door (and the model) refuse it


@dataclass(frozen=True)
class Accepted:
    name: str
    title: str
    script: str
    expect_title: str | None = None  # what the model makes of it (NFC, dropped controls); None: unchanged
    expect_script: str | None = None
    rest: bool = True  # made into a real video over REST (False: checked at the boundary only)
    extra: dict[str, Any] = field(default_factory=dict)


REFUSED = [
    Refused("title with a line feed", {"title": "Two\nlines"}, "title"),
    Refused("title with a carriage return", {"title": "Two\rlines"}, "title"),
    Refused("title with a tab", {"title": "Tab\there"}, "title"),
    Refused("title with a trailing newline", {"title": "Title\n"}, "title"),
    Refused("email with a trailing newline", {"notify_emails": ["a@example.com\n"]}, "notify_emails"),
    Refused("title with NUL", {"title": "Nul\x00here"}, "title"),
    Refused("title with BEL", {"title": "Bell\x07"}, "title"),
    Refused("title with ESC", {"title": "Esc\x1b[31mred"}, "title"),
    Refused("title with a C1 control (NEL)", {"title": "Next\x85line"}, "title"),
    Refused("title with a Unicode line separator", {"title": "Two\u2028lines"}, "title"),
    Refused("title with a Unicode paragraph separator", {"title": "Two\u2029paragraphs"}, "title"),
    Refused("title of spaces only", {"title": "   "}, "title"),
    Refused("empty title", {"title": ""}, "title"),
    Refused("title of 201 characters", {"title": "x" * 201}, "title"),
    Refused("script with NUL", {"script": "one\x00two"}, "script"),
    Refused("script of 20,001 characters", {"script": "x" * 20_001}, "script"),
    Refused("topic with NUL", {"topic": "a\x00b"}, "topic"),
    Refused("tone with NUL", {"tone": "calm\x00"}, "tone"),
    Refused("audience with NUL", {"audience": "\x00kids"}, "audience"),
    Refused("voice with a newline", {"voice": "en-us\n"}, "voice"),
    Refused("voice with NUL", {"voice": "en\x00us"}, "voice"),
    Refused(
        "email with a Bcc header injection",
        {"notify_emails": ["a@example.com\r\nBcc: evil@example.com"]},
        "notify_emails",
    ),
    Refused("email with a Subject injection", {"notify_emails": ["a@example.com\nSubject: hi"]}, "notify_emails"),
    Refused("email in angle brackets", {"notify_emails": ["<a@example.com>"]}, "notify_emails"),
    Refused("two emails in one entry", {"notify_emails": ["a@example.com, b@example.com"]}, "notify_emails"),
    Refused("email with NUL", {"notify_emails": ["a\x00@example.com"]}, "notify_emails"),
    Refused("request id climbing out of a folder", {"request_id": "../../etc/passwd"}, "request_id"),
    Refused("request id with a slash", {"request_id": "a/b"}, "request_id"),
    Refused("request id with a space", {"request_id": "a b"}, "request_id"),
    Refused("request id with a newline", {"request_id": "a\nb"}, "request_id"),
    Refused("request id of 101 characters", {"request_id": "a" * 101}, "request_id"),
    Refused("music climbing out of its folder", {"music": "../secret.mp3"}, "music"),
    Refused("music in a sub-folder", {"music": "a/b.mp3"}, "music"),
    Refused("aspect with a shell command", {"aspect": "16:9; rm -rf /"}, "aspect"),
    Refused("resolution as a string", {"resolution": "720"}, "resolution"),
    Refused("image provider with a command", {"image_provider": "procedural; ls"}, "image_provider"),
    Refused("voice provider with a newline", {"voice_provider": "polly\n"}, "voice_provider"),
    Refused("absurd target length", {"target_duration_s": 10**9}, "target_duration_s"),
    Refused("rerender as a string", {"rerender": "yes"}, "rerender"),
    Refused("script of emoji only", {"script": "🎬🎞️ … !"}, "script", door_only=True),  # it splits into no scene
    Refused("script of spaces and no topic", {"script": "   "}, "script", door_only=True),
    Refused("a kilobyte-long unknown key", {"k" * 1000: "v"}, "unknown field", door_only=True),
]

ACCEPTED = [
    Accepted("Arabic", "مرحبا بالعالم", "مرحبا بالعالم. هذا فيديو قصير."),
    Accepted("Hebrew mixed with English", "שלום world", "שלום עולם and hello world."),
    Accepted("CJK", "日本語のタイトル", "これは日本語の字幕です。中文字幕。한국어 자막."),
    Accepted("emoji", "Launch day 🚀🎉", "We launch today 🚀 and celebrate 🎉 together ✨."),
    Accepted("Devanagari and Thai", "नमस्ते สวัสดี", "नमस्ते दुनिया. สวัสดีชาวโลก."),
    Accepted("Greek and Cyrillic", "Γειά σου, Привет", "Γειά σου κόσμε. Привет, мир."),
    Accepted("ffmpeg filter syntax", "a:b,c;d[e]f='g'", "Colons: commas, semicolons; [brackets] and 'quotes' = fine."),
    Accepted("ASS override tags", "{\\b1}Bold{\\an8}", "Tags {\\b1}stay{\\b0} text \\N and \\h are not markup."),
    Accepted("HTML", "<script>alert(1)</script> & <b>", "Markup <b>stays</b> text & <i>is</i> escaped in mail."),
    Accepted("shell", "$(reboot) `id`", "Nothing runs: $(rm -rf /) `reboot` ; | && > /tmp/x."),
    Accepted("SQL", "'); DROP TABLE video.requests; --", "Robert'); DROP TABLE video.projects; -- says hi."),
    Accepted("path-like title", "../../etc/passwd", "A title that looks like a path is only a title."),
    Accepted("format strings", "%s %d {0} {title} %(x)s", "Percent %s and braces {0} {title} are plain text."),
    Accepted("identical scenes", "Identical scenes", "Same line again.\n\nSame line again."),
    Accepted("near-duplicate scenes", "Near duplicates", "Same line again.\n\nSame line again!\n\nSame line, again."),
    Accepted(
        "decomposed accents (NFD)",
        "Cafe\u0301 cre\u0300me",
        "The cafe\u0301 serves cre\u0300me bru\u0302le\u0301e.",
        expect_title="Café crème",
        expect_script="The café serves crème brûlée.",
    ),
    Accepted(
        "controls inside the script",
        "Controls dropped",
        "Ring\x07 the\x1b bell\x85 now.\tTabs stay.",
        expect_script="Ring the bell now.\tTabs stay.",
    ),
    Accepted("20,000-character script", "Very long", ("A long script sentence. " * 900)[:20_000], rest=False),
    Accepted(
        "Markdown",
        "**bold** [link](http://x.example) ![i](http://x.example/p.png)",
        "Markdown # stays _text_ and [links](http://x.example) too.",
    ),
    # one unbroken word of 392 characters: its scene's label once overflowed Airflow's 250-character column and
    # failed every try of the mapped tasks
    Accepted("one 392-character word", "One long word", "Antidisestablishmentarianism" * 14 + "."),
]


def _base(**conf: Any) -> dict[str, Any]:
    return {"title": "Hostile input", "script": "Hello.", **conf}


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.name)
def test_schema_and_model_both_refuse(case: Refused) -> None:
    from video_factory.api_errors import trigger_problem

    conf = _base(**case.conf)
    assert schema_accepts(conf) == case.door_only, "the trigger form / REST schema let it through"
    with pytest.raises(InvalidRequest):
        VideoRequest.from_conf(conf)
    problem = trigger_problem(json.dumps({"conf": conf}).encode())  # the API's door, before a run is stored
    assert problem is not None and case.field in problem and "\n" not in problem and len(problem) < 400


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.name)
def test_schema_and_model_both_accept_and_keep_the_text(case: Accepted) -> None:
    conf = _base(title=case.title, script=case.script, **case.extra)
    assert schema_accepts(conf) and model_accepts(conf)
    request = VideoRequest.from_conf(conf, default_id="x")
    assert request.title == (case.expect_title or case.title)
    assert request.script == (case.expect_script or case.script)
    assert request.title == unicodedata.normalize("NFC", request.title)


def test_the_table_is_large_enough() -> None:
    assert len(REFUSED) + len(ACCEPTED) >= 40


# ---- through a running Airflow -------------------------------------------------------------------------------------


def _no_trace(site: AirflowSite, count_rows: Callable[..., int], request_id: str) -> None:
    assert count_rows("requests", "request_key = :k", k=request_id) == 0
    storage = site.data_dir / "storage"
    assert not [p for p in storage.rglob("*") if request_id in str(p)]


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.name)
def test_a_refused_request_gets_a_one_line_400_and_leaves_nothing(
    case: Refused, airflow: httpx.Client, airflow_site: AirflowSite, count_rows: Callable[..., int]
) -> None:
    run_key = f"hostile-{secrets.token_hex(4)}"
    conf = {"request_id": run_key, **_base(**case.conf)}
    response = airflow.post(f"/dags/{DAG}/dagRuns", json={"logical_date": None, "dag_run_id": run_key, "conf": conf})
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and len(detail) < 400, detail
    assert case.field in detail, detail
    assert airflow.get(f"/dags/{DAG}/dagRuns/{run_key}").status_code == 404
    _no_trace(airflow_site, count_rows, run_key)


def _groups(cases: list[Accepted], size: int = 3) -> list[list[Accepted]]:
    made = [case for case in cases if case.rest]
    return [made[i : i + size] for i in range(0, len(made), size)]


def _mail(site: AirflowSite, request_id: str) -> email.message.EmailMessage | None:
    for path in sorted((site.data_dir / "outbox").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if request_id in message.get_body(("plain",)).get_content():  # type: ignore[union-attr]
            return message  # type: ignore[return-value]
    return None


def _characters(text: str) -> str:
    """The text without white space: cues break lines where they like (CJK has no spaces to break at)."""
    return "".join(text.replace(WORD_JOINER, "").split())


def test_accepted_hostile_text_becomes_videos_whose_subtitles_and_email_carry_it_intact(
    airflow: httpx.Client, airflow_site: AirflowSite, video_engine: Any
) -> None:
    from sqlalchemy import text

    runs = {}
    for number, group in enumerate(_groups(ACCEPTED)):
        request_id = f"hostile-ok-{number}-{secrets.token_hex(3)}"
        title = " | ".join(case.title for case in group)
        script = "\n\n".join(case.script for case in group)
        conf = {"request_id": request_id, "title": title, "script": script, "ken_burns": False}
        response = airflow.post(
            f"/dags/{DAG}/dagRuns", json={"logical_date": None, "dag_run_id": f"video__{request_id}", "conf": conf}
        )
        assert response.status_code == 200, response.text
        runs[request_id] = group

    def ended() -> dict[str, str] | None:
        states = {r: airflow.get(f"/dags/{DAG}/dagRuns/video__{r}").json()["state"] for r in runs}
        return states if all(s in ("success", "failed") for s in states.values()) else None

    states = wait_for(ended, timeout_s=900, what="the hostile-text videos", interval_s=3)
    assert set(states.values()) == {"success"}, states
    for request_id, group in runs.items():
        expected_title = " | ".join(case.expect_title or case.title for case in group)
        with video_engine.connect() as conn:
            subtitles_key = conn.execute(
                text("SELECT v.subtitles_key FROM video.rendered_videos v WHERE v.dag_run_id = :r AND v.published"),
                {"r": f"video__{request_id}"},
            ).scalar_one()
        srt = (airflow_site.data_dir / "storage" / subtitles_key).read_text(encoding="utf-8")
        cue_text = [
            line for line in srt.splitlines() if line.strip() and not line.strip().isdigit() and "-->" not in line
        ]
        spoken = " ".join(case.expect_script or case.script for case in group)
        assert _characters(" ".join(cue_text)) == _characters(spoken), request_id
        mail = wait_for(lambda r=request_id: _mail(airflow_site, r), timeout_s=60, what="the email", interval_s=2)
        # (a long subject is folded onto the next line; Python's parser keeps the fold's leading space)
        assert mail["Subject"].strip() == f"Video ready: {expected_title}"
        assert all(ord(c) >= 0x20 for c in mail["Subject"])
        html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert escape(expected_title, quote=False) in html or escape(expected_title) in html
        assert "<script>alert(1)</script>" not in html


# Every door against every kind of hostile input: answered 400, 404 or 413 with one line, never a 500, nothing stored
DEEP = ("[" * 100_000 + "]" * 100_000).encode()  # Python's parser recurses into a RecursionError (HTTP 500)
HUGE = json.dumps({"logical_date": None, "conf": {"title": "t", "script": "x", "pad": "y" * 2_000_000}}).encode()
SURROGATE = b'{"logical_date": null, "conf": {"title": "a\\ud800b", "script": "x"}}'
NOT_UTF8 = b'{"logical_date": null, "conf": {"title": "\xff\xfe", "script": "x"}}'
BIG_NUMBER = b'{"logical_date": null, "conf": {"title": "t", "script": "x", "priority": ' + b"9" * 5000 + b"}}"
KEY = "hostile-no-such-video"
PAGE_ROUTES = [
    ("GET", "/video-factory/videos"),
    ("GET", "/video-factory/new"),
    ("GET", "/video-factory/api/videos"),
    ("GET", f"/video-factory/api/videos/{KEY}"),
    ("GET", f"/video-factory/api/videos/{KEY}/files/video"),
    ("DELETE", f"/video-factory/api/videos/{KEY}"),
    ("POST", f"/video-factory/api/videos/{KEY}/requeue"),
    ("GET", "/video-factory/api/music"),
]


@dataclass(frozen=True)
class Hostile:
    name: str
    method: str
    path: str
    body: bytes | None = None
    statuses: tuple[int, ...] = (400,)


HOSTILE = [
    # the trigger, signed in and not: the body is held at the door before Airflow parses it
    Hostile("deeply nested JSON at the trigger", "POST", f"/api/v2/dags/{DAG}/dagRuns", DEEP),
    Hostile("a 2 MB conf at the trigger", "POST", f"/api/v2/dags/{DAG}/dagRuns", HUGE, (413,)),
    Hostile("an unpaired surrogate at the trigger", "POST", f"/api/v2/dags/{DAG}/dagRuns", SURROGATE),
    Hostile("bytes that are not UTF-8 at the trigger", "POST", f"/api/v2/dags/{DAG}/dagRuns", NOT_UTF8),
    Hostile("malformed JSON at the trigger", "POST", f"/api/v2/dags/{DAG}/dagRuns", b'{"conf": {'),
    Hostile("a number of 5,000 digits at the trigger", "POST", f"/api/v2/dags/{DAG}/dagRuns", BIG_NUMBER),
    Hostile("deeply nested JSON at another API write", "PATCH", f"/api/v2/dags/{DAG}", DEEP),
    # the plugin's routes: NUL, broken percent-encoding and numbers out of range in path and query
    *(
        Hostile(f"NUL in the query of {method} {path}", method, f"{path}?q=a%00b&batch=%00")
        for method, path in PAGE_ROUTES
    ),
    *(
        Hostile(f"not UTF-8 in the query of {method} {path}", method, f"{path}?q=%ff%fe")
        for method, path in PAGE_ROUTES
    ),
    Hostile("NUL in a video's key", "GET", "/video-factory/api/videos/a%00b"),
    Hostile("NUL in a file's name", "GET", f"/video-factory/api/videos/{KEY}/files/image-%00"),
    Hostile("not UTF-8 in a video's key", "DELETE", "/video-factory/api/videos/%ff"),
    Hostile("a key that is no request id", "GET", "/video-factory/api/videos/..%2F..%2Fetc", statuses=(404,)),
    Hostile("a key of 5,000 characters", "GET", "/video-factory/api/videos/" + "k" * 5000, statuses=(404,)),
    Hostile(
        "a scene index of 30 digits", "GET", f"/video-factory/api/videos/{KEY}/files/image-{'9' * 30}", statuses=(404,)
    ),
    Hostile("a page number of 30 digits", "GET", f"/video-factory/api/videos?page={'9' * 30}"),
    Hostile("a page size of 30 digits", "GET", f"/video-factory/api/videos?per_page={'9' * 30}"),
    Hostile("a year 99999 date", "GET", "/video-factory/api/videos?since=99999-01-01"),
    Hostile("a title filter of 10,000 characters", "GET", "/video-factory/api/videos?q=" + "q" * 10_000),
    Hostile("a batch filter of 10,000 characters", "GET", "/video-factory/api/videos?batch=" + "b" * 10_000),
    Hostile("deeply nested JSON at the plugin", "POST", f"/video-factory/api/videos/{KEY}/requeue", DEEP),
    Hostile("a track named with NUL", "PUT", "/video-factory/api/music/a%00.wav", b"RIFF"),
    Hostile("a track that is not audio", "PUT", "/video-factory/api/music/noise.wav", b"\x00\x01garbage" * 100),
    Hostile("a track named outside its folder", "PUT", "/video-factory/api/music/..%2Fx.wav", b"RIFF", (400, 404)),
]


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.name)
def test_every_door_answers_hostile_input_with_one_line_and_never_a_500(
    case: Hostile, airflow_site: AirflowSite, count_rows: Callable[..., int]
) -> None:
    token = airflow_site.api().access_token
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "X-Video-Factory": "1"}
    if "/music/" in case.path:
        headers["Content-Type"] = "application/octet-stream"
    runs_before = count_rows("requests")
    with httpx.Client(base_url=airflow_site.api_url, timeout=60) as client:
        for who, sent in (
            ("signed in", headers),
            ("anonymous", {k: v for k, v in headers.items() if k != "Authorization"}),
        ):
            answer = client.request(case.method, case.path, content=case.body, headers=sent)
            allowed = case.statuses if who == "signed in" else (*case.statuses, 401)
            assert answer.status_code in allowed, (who, answer.status_code, answer.text[:300])
            detail = answer.json()["detail"]
            assert isinstance(detail, str) and "\n" not in detail and len(detail) < 300, (who, detail)
    assert count_rows("requests") == runs_before  # nothing was stored
    assert not list((airflow_site.data_dir / "storage" / "music").glob("noise.wav*"))


def test_a_trigger_with_an_unknown_key_is_refused_before_a_run_is_stored(
    airflow: httpx.Client, count_rows: Callable[..., int]
) -> None:
    run_id = f"video__unknown-{secrets.token_hex(3)}"
    conf = {"title": "t", "script": "x", "bulk": "z" * 400_000}  # under the size limit, but no request field
    answer = airflow.post(f"/dags/{DAG}/dagRuns", json={"logical_date": None, "dag_run_id": run_id, "conf": conf})
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith('unknown field "bulk" in the request: remove it')
    assert airflow.get(f"/dags/{DAG}/dagRuns/{run_id}").status_code == 404
