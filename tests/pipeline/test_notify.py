from __future__ import annotations

import email
from email import policy
from pathlib import Path

from pipeline.models import ProjectSummary
from pipeline.notify import build_message, failure_email, success_email, write_to_outbox


def _summary(title: str) -> ProjectSummary:
    video = {"video_url": "file:///videos/a.mp4", "duration_s": 31.27, "width": 1280, "height": 720}
    return ProjectSummary(id=1, title=title, status="completed", scene_count=5, video=video)


def test_success_email_escapes_user_text_and_has_the_facts() -> None:
    page = "http://airflow/plugin/videos/video-factory/videos#video=r1"
    content = success_email(_summary('<script>alert("x")</script> & co'), run_url="http://airflow/run", page_url=page)
    assert "<script>" not in content.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in content.html
    # the link is the video's page (which serves the file to whoever may see it); where it is stored is text
    assert f'<a href="{page}">' in content.html and 'href="file:' not in content.html
    assert "Stored at: file:///videos/a.mp4" in content.text
    assert "Duration: 31.3 s" in content.text and "Scenes: 5" in content.text
    assert content.subject == 'Video ready: <script>alert("x")</script> & co'


def test_failure_email_names_task_error_try_and_log() -> None:
    content = failure_email(
        title="T\nwith newline",
        task_id="render",
        error="ffmpeg failed: <boom>",
        try_number=2,
        log_url="http://airflow/log?x=1&y=2",
        run_url="http://airflow/run",
    )
    assert content.subject == "Video failed: T with newline"
    assert "Failed task: render" in content.text and "Try: 2" in content.text
    assert "ffmpeg failed: &lt;boom&gt;" in content.html
    assert 'href="http://airflow/log?x=1&amp;y=2"' in content.html


def test_outbox_holds_a_parseable_multipart_message(tmp_path: Path) -> None:
    content = success_email(_summary("Harbour"), run_url="http://airflow/run", page_url="http://airflow/videos")
    message = build_message(content, sender="Factory <f@localhost>", recipients=["a@example.com", "b@example.com"])
    path = write_to_outbox(message, tmp_path / "outbox")
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == [path.name]
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed["To"] == "a@example.com, b@example.com"
    assert parsed["Subject"] == "Video ready: Harbour"
    assert {part.get_content_type() for part in parsed.walk()} >= {"text/plain", "text/html"}
