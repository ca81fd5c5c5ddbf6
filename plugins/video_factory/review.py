"""Script review, a human in the loop: a run whose request asks for ``review`` waits after ``script`` in Airflow
3.3's ``awaiting_input`` state (the standard provider's HITLOperator) showing the title and the scenes, until an
editor approves, edits the script (it is split again) or rejects it with a reason; a rejection, or no answer within
``VIDEO_REVIEW_TIMEOUT_S``, ends the project ``rejected`` before any image or voice is paid for. (No option is the
default: Airflow's form would show it as the primary button; a timeout is handled here.) The task's result is the
scenes let through (as split, split again from the editor's script, with their library picks); a rejected run's
``review`` is skipped, and the rest of the run with it. A request that asks for no review passes at once.

Editors answer in Airflow's UI (Browse → Required actions, or the task's page; the Videos page links there) or
through the REST API: ``PATCH /api/v2/dags/video_production/dagRuns/{run}/taskInstances/review/-1/hitlDetails``
with ``{"chosen_options": ["Approve"], "params_input": {"script": "...", "reason": ""}}``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param
from airflow.sdk.definitions.param import ParamsDict

from pipeline.markdown import literal

if TYPE_CHECKING:
    from pipeline.production import ReviewAnswer

log = logging.getLogger(__name__)
APPROVE, EDIT, REJECT = "Approve", "Approve my edits", "Reject"
MAX_BODY_SCENES = 60  # the review page shows this many scenes; the script field holds all of it


def _params(script: str = "") -> dict[str, Param]:
    return {
        "script": Param(
            script,
            type="string",
            format="multiline",  # a text area: blank lines between paragraphs are scene breaks
            title="Script",
            description="Edit it, then choose 'Approve my edits'. A blank line starts a new scene.",
        ),
        "reason": Param(
            None, type=["null", "string"], title="Reason (for a rejection)", description="Sent to the requester."
        ),
    }


class ScriptReview(HITLOperator):
    """Waits for an editor when the run's request asks for review; otherwise approves at once (no waiting). Returns
    the scenes to make."""

    def __init__(self, *, timeout_s: float, **kwargs: Any) -> None:
        kwargs.pop("params", None)  # the DAG's (the request form); the review form has its own fields
        super().__init__(
            subject="Review the script",
            options=[APPROVE, EDIT, REJECT],
            params=_params(),
            response_timeout=dt.timedelta(seconds=timeout_s),
            **kwargs,
        )

    def execute(self, context: Any) -> Any:
        from video_factory.connections import video_repository

        ti = context["ti"]
        job, written = ti.xcom_pull(task_ids="register"), ti.xcom_pull(task_ids="script")
        if not job["request"].get("review"):
            unasked: dict[str, Any] = {
                "chosen_options": [APPROVE],
                "params_input": {},
                "responded_by_user": None,
                "asked": False,
            }
            return let_through(job, written, unasked)
        scenes = written["scenes"]
        title = job["request"]["title"]
        self.subject = f"Review the script of “{title}” ({len(scenes)} scenes)"
        # Airflow renders the body as Markdown: the submitter's title and scenes are escaped, so the editor reads
        # them exactly as they will be narrated (no hidden text, no links, no images fetched)
        lines = [f"{n}\\. {literal(scene['text'])}" for n, scene in enumerate(scenes[:MAX_BODY_SCENES], start=1)]
        if len(scenes) > MAX_BODY_SCENES:
            lines.append(f"… and {len(scenes) - MAX_BODY_SCENES} more (all of it is in the Script field)")
        request_id = job["request"]["request_id"] or ""
        self.body = (
            f"**{literal(title)}**, request {literal(request_id)}: approve it as it is, edit the script and approve "
            "your edits (it is split into scenes again), or reject it with a reason. Nothing is paid for before you "
            "answer.\n\n" + "\n\n".join(lines)
        )
        self.params = ParamsDict(_params(written["script"]["body"]))
        video_repository().set_reviewing(job["project_id"], dag_run_id=context["run_id"], waiting=True)
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        ti = context["ti"]
        answer = self.answer(context, event)
        return let_through(ti.xcom_pull(task_ids="register"), ti.xcom_pull(task_ids="script"), answer)

    def answer(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """The editor's answer as Airflow's HITL gives it; a rejection when nobody answered in time."""
        if event.get("error_type") == "timeout":  # nobody answered in time: the script is not approved
            return {"chosen_options": [REJECT], "params_input": {}, "responded_by_user": None, "asked": True}
        answer = dict(super().execute_complete(context, event))
        answer["asked"] = True
        return answer


def let_through(job: dict[str, Any], written: dict[str, Any], answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The scenes the editor let through (``written``: the script task's script and scenes): as split, split again
    from the edited script, or none (rejected: the project ends `rejected` and the task is skipped, the rest of the
    run with it, before anything is paid for); each with its library item when the request's sources name it."""
    from airflow.sdk.exceptions import AirflowSkipException

    from pipeline.models import Scene
    from pipeline.production import Job, review_scenes
    from pipeline.scriptgen import Script
    from video_factory.task import VideoTask

    env = VideoTask.current()
    outcome = review_scenes(
        Job.model_validate(job),
        Script.model_validate(written["script"]),
        [Scene.model_validate(scene) for scene in written["scenes"]],
        answer_of(answer),
        repository=env.repository,
        settings=env.settings,
    )
    if outcome.rejected is not None:
        raise AirflowSkipException(f"Not made: {outcome.rejected}")
    if outcome.note:
        log.info("%s", outcome.note)
    return [scene.model_dump(mode="json") for scene in env.with_library_picks(outcome.scenes)]


def answer_of(answer: dict[str, Any]) -> ReviewAnswer:
    """Airflow's HITL answer (or ours when nobody was asked, or nobody answered in time) as the core reads it."""
    from pipeline.production import ReviewAnswer

    chosen = (answer.get("chosen_options") or [APPROVE])[0]
    given = dict(answer.get("params_input") or {})
    return ReviewAnswer(
        asked=bool(answer.get("asked")),
        decision={REJECT: "reject", EDIT: "edit"}.get(chosen, "approve"),
        editor=(answer.get("responded_by_user") or {}).get("name"),
        script=given.get("script") or "",
        reason=given.get("reason") or "",
    )
