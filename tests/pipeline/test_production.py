"""The script review's decision (``review_scenes``) against the real database: approve, approve edits, reject and
a timeout, and what each writes."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest

from pipeline.config import Settings
from pipeline.db import VideoRepository
from pipeline.production import Job, ReviewAnswer, review_scenes, scenes_of
from pipeline.request import VideoRequest
from pipeline.scriptgen import Script
from pipeline.segment import segment_script

SCRIPT = "The harbour wakes before dawn.\n\nGulls follow the boats past the old lighthouse."


@pytest.fixture
def drafted(repository: VideoRepository, settings: Settings) -> tuple[Job, Script, list]:
    request = VideoRequest.model_validate({"request_id": f"rv-{secrets.token_hex(4)}", "title": "T", "script": SCRIPT})
    run_id = f"video__{request.key}"
    project_id = repository.register(request, dag_run_id=run_id).project_id
    job = Job(
        project_id=project_id,
        run_id=run_id,
        request=request,
        script_source="given",
        image_provider="procedural",
        voice_provider="espeak",
    )
    written = Script(body=SCRIPT, source="given")
    texts = segment_script(SCRIPT, max_words=settings.max_scene_words, max_scenes=settings.max_scenes)
    repository.save_script(project_id, script=written)
    repository.save_scenes(project_id, texts)
    repository.set_reviewing(project_id, dag_run_id=run_id, waiting=True)
    return job, written, scenes_of(job, texts)


def _status(count_rows: Callable[..., int], job: Job, status: str) -> int:
    return count_rows("projects", "id = :p AND status = :s", p=job.project_id, s=status)


def test_not_asked_or_approved_keeps_the_drafted_scenes(
    drafted: tuple[Job, Script, list], repository: VideoRepository, settings: Settings, count_rows: Callable[..., int]
) -> None:
    job, written, scenes = drafted
    untouched = review_scenes(job, written, scenes, ReviewAnswer(asked=False), repository=repository, settings=settings)
    assert untouched.scenes == scenes and untouched.rejected is None
    assert _status(count_rows, job, "review") == 1  # nobody was asked: nothing changes
    answer = ReviewAnswer(decision="edit", editor="ann", script=SCRIPT + "\n")  # the same script: nothing to split
    approved = review_scenes(job, written, scenes, answer, repository=repository, settings=settings)
    assert approved.scenes == scenes and approved.note == "Script approved by ann as it was"
    assert _status(count_rows, job, "processing") == 1


def test_approved_edits_are_split_again_and_stored(
    drafted: tuple[Job, Script, list], repository: VideoRepository, settings: Settings, count_rows: Callable[..., int]
) -> None:
    job, written, scenes = drafted
    edited = SCRIPT + "\n\nAt night the lamp turns and the harbour sleeps."
    answer = ReviewAnswer(decision="edit", editor="ann", script=edited)
    outcome = review_scenes(job, written, scenes, answer, repository=repository, settings=settings)
    assert [scene.text for scene in outcome.scenes][-1] == "At night the lamp turns and the harbour sleeps."
    assert len(outcome.scenes) == 3 and outcome.rejected is None
    assert count_rows("scenes", "project_id = :p", p=job.project_id) == 3
    assert count_rows("scripts", "project_id = :p AND source = 'review' AND body = :b", p=job.project_id, b=edited)


@pytest.mark.parametrize(
    ("editor", "reason", "expected"),
    [("ann", "Too short", "rejected in review by ann: Too short"), (None, "", "no review within 72 h")],
)
def test_a_rejection_or_no_answer_ends_the_project_rejected(  # noqa: PLR0917 - pytest passes fixtures by name
    drafted: tuple[Job, Script, list],
    repository: VideoRepository,
    settings: Settings,
    count_rows: Callable[..., int],
    editor: str | None,
    reason: str,
    expected: str,
) -> None:
    job, written, scenes = drafted
    answer = ReviewAnswer(decision="reject", editor=editor, reason=reason)
    outcome = review_scenes(job, written, scenes, answer, repository=repository, settings=settings)
    assert outcome.rejected == expected and outcome.scenes == []
    assert count_rows("projects", "id = :p AND status = 'rejected' AND error = :e", p=job.project_id, e=expected)
