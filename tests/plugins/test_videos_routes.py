"""The Videos page's file route with S3 storage (the player gets a presigned link that really serves the MP4), and
a script review nobody answers (it counts as a rejection). The routes' auth and the local-storage branch are tested
against the running API server (tests/test_videos_page.py)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from pipeline.db import VideoRepository
from pipeline.models import OutputFacts, RenderResult
from pipeline.request import VideoRequest


def test_with_s3_storage_the_player_is_sent_to_a_presigned_link(
    providers: dict[str, Any], repository: VideoRepository
) -> None:
    from video_factory import videos

    key = f"s3page-{secrets.token_hex(4)}"
    run_id = f"video__{key}"
    request = VideoRequest.model_validate({"request_id": key, "title": "In the bucket", "script": "One. Two."})
    project = repository.register(request, dag_run_id=run_id).project_id
    facts = OutputFacts(
        duration_s=3.0,
        width=1280,
        height=720,
        video_codec="h264",
        audio_codec="aac",
        video_streams=1,
        audio_streams=1,
        subtitle_streams=0,
        size_bytes=12,
        faststart=True,
    )
    repository.save_render(
        RenderResult(
            project_id=project,
            video_key=f"videos/{key}/v.mp4",
            subtitles_key=f"videos/{key}/v.srt",
            video_url="s3://bucket/v.mp4",
            facts=facts,
            expected_duration_s=3.0,
            attempt=1,
        ),
        dag_run_id=run_id,
    )
    body = b"\x00\x00\x00\x18ftypmp42"
    providers["s3"].put_object(Bucket=providers["bucket"], Key=f"videos/{key}/v.mp4", Body=body)
    response = videos.video_file(key, "video")
    assert response.status_code == 307
    link = response.headers["location"]
    assert providers["bucket"] in link and "Signature" in link
    assert httpx.get(link, timeout=10).content == body


def test_a_review_nobody_answers_counts_as_a_rejection() -> None:
    from video_factory.review import REJECT, ScriptReview

    review = ScriptReview(task_id="review", timeout_s=60)
    assert review.defaults is None  # no option preselected in the editor's form
    answer = review.answer({}, {"error": "no response in time", "error_type": "timeout"})
    assert answer["chosen_options"] == [REJECT] and answer["responded_by_user"] is None and answer["asked"]
