"""Script review, a human in the loop, against the running scheduler and API server: a run whose request asks for
review waits in ``awaiting_input`` after ``segment`` (the project in ``review``, nothing paid for) until an editor
answers through the REST API's human-in-the-loop endpoint or Airflow's UI (Required actions): approve, approve
edits (split again), or reject (the project ends ``rejected``, no image or narration made, the requester told)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from pytest_httpserver import HTTPServer

from pipeline.markdown import plain
from pipeline.segment import segment_script
from tests.stack_helpers import DAG, PLAIN, SCREENSHOTS, videos_in_airflow, wait_for
from tests.test_videoctl import videoctl
from tools.stack import AIRFLOW_USER, AirflowSite

SCRIPT = "The harbour wakes before dawn and the boats slip out.\n\nGulls follow them past the old lighthouse."


def _submit(airflow: httpx.Client, label: str, *, title: str = "Reviewed", script: str = SCRIPT) -> tuple[str, str]:
    request_id = f"review-{label}-{secrets.token_hex(3)}"
    conf = {"request_id": request_id, "title": f"{title} {request_id}", "script": script, "review": True, **PLAIN}
    body = {"dag_run_id": f"video__{request_id}", "logical_date": None, "conf": conf}
    assert airflow.post(f"/dags/{DAG}/dagRuns", json=body).status_code == 200, body
    return request_id, f"video__{request_id}"


def _hitl(run_id: str) -> str:
    return f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/review/-1/hitlDetails"


def _review(airflow: httpx.Client, run_id: str) -> dict[str, Any]:
    return dict(airflow.get(f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/review").json())


def _parked(logs: Path, run_id: str, try_number: int) -> bool:
    """Whether the scheduler has taken in the executor's report that the waiting review's process exited.

    Airflow 3.3.2: when an answer resumes the task before that report is processed, the stale "finished" event
    of the parked process arrives while the resumed try runs; the scheduler takes it for a task killed outside
    Airflow and fails (retries) it, which asks anew. A person answers later than that; the tests wait for it
    in the scheduler's log rather than for a fixed time, which a loaded machine outlasted."""
    mark = (f"task_id=review, run_id={run_id},", "state=awaiting_input", f"try_number={try_number},")
    return any("TaskInstance Finished:" in line and all(m in line for m in mark) for line in _scheduler_said(logs))


def _scheduler_said(logs: Path) -> list[str]:
    scheduler_log = logs / "scheduler.log"
    return scheduler_log.read_text(errors="replace").splitlines() if scheduler_log.exists() else []


def _waiting(airflow: httpx.Client, logs: Path, run_id: str) -> dict[str, Any]:
    """The review's question, once it waits for an editor and an answer can no longer race its parking."""

    def asked() -> dict[str, Any] | None:
        ti = _review(airflow, run_id)
        return ti if ti.get("state") == "awaiting_input" else None

    ti = wait_for(asked, timeout_s=300, what="the review to wait for an editor", interval_s=1)
    wait_for(lambda: _parked(logs, run_id, ti["try_number"]), timeout_s=120, what="the scheduler to see it parked")
    return dict(airflow.get(_hitl(run_id)).json())


def _ends_in_success(airflow: httpx.Client, logs: Path, run_id: str, again: Callable[[], object]) -> None:
    """Waits for the run to end and asserts it succeeded (else the message says why). ``again`` answers the
    review once more if it asks again (a retry of the review task, whatever made it: the first answer went to
    the try that failed)."""
    answered = {"try": int(_review(airflow, run_id)["try_number"])}

    def ended() -> str | None:
        state = airflow.get(f"/dags/{DAG}/dagRuns/{run_id}").json()["state"]
        if state in ("success", "failed"):
            return str(state)
        ti = _review(airflow, run_id)
        asks_again = ti.get("state") == "awaiting_input" and ti["try_number"] > answered["try"]
        if asks_again and _parked(logs, run_id, ti["try_number"]):
            again()
            answered["try"] = ti["try_number"]
        return None

    state = wait_for(ended, timeout_s=600, what="the run to end", interval_s=2)
    assert state == "success", _why(airflow, logs, run_id)


def _why(airflow: httpx.Client, logs: Path, run_id: str) -> str:
    """What a failed run's tasks ended as, and what the scheduler said about them: the message of a failure."""
    tis = airflow.get(f"/dags/{DAG}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    tasks = [f"{ti['task_id']}[{ti['map_index']}] {ti['state']} (try {ti['try_number']})" for ti in tis]
    said = [
        line[:600]
        for line in _scheduler_said(logs)
        if run_id in line and any(w in line for w in ("state mismatch", "reported that", "Marking task", "ERROR"))
    ]
    return "; ".join(tasks) + "\n" + "\n".join(said[-10:])


def _paid(count_rows: Callable[..., int], run_id: str) -> int:
    """Provider calls of the run: images and narrations (the script is given), what a review protects."""
    return count_rows("provider_calls", "dag_run_id = :r", r=run_id)


def test_approved_through_the_rest_api_the_video_is_made(
    airflow: httpx.Client, airflow_logs: Path, airflow_site: AirflowSite, count_rows: Callable[..., int]
) -> None:
    request_id, run_id = _submit(airflow, "ok")
    detail = _waiting(airflow, airflow_logs, run_id)
    assert detail["subject"].startswith(f"Review the script of “Reviewed {request_id}” (2 scenes)")
    body = plain(detail["body"])  # Airflow renders it as Markdown: the submitter's text is escaped
    assert "1. The harbour wakes before dawn" in body and "2. Gulls follow them" in body
    assert detail["options"] == ["Approve", "Approve my edits", "Reject"]
    assert count_rows("projects", "dag_run_id = :r AND status = 'review'", r=run_id) == 1
    assert _paid(count_rows, run_id) == 0
    said = videoctl(airflow_site, "status", request_id)
    assert said.returncode == 0 and said.stdout.startswith(f"{run_id}: waiting for a script review; an editor ")
    approve = {"chosen_options": ["Approve"], "params_input": {"script": SCRIPT, "reason": None}}
    answer = airflow.patch(_hitl(run_id), json=approve)
    assert answer.status_code == 200, answer.text
    _ends_in_success(airflow, airflow_logs, run_id, again=lambda: airflow.patch(_hitl(run_id), json=approve))
    assert count_rows("projects", "dag_run_id = :r AND status = 'completed'", r=run_id) == 1
    assert count_rows("scenes", "project_id = (SELECT id FROM video.projects WHERE dag_run_id = :r)", r=run_id) == 2


def test_edits_are_split_again_and_a_rejection_pays_for_nothing(
    airflow: httpx.Client, airflow_logs: Path, airflow_site: AirflowSite, count_rows: Callable[..., int]
) -> None:
    _, edited_run = _submit(airflow, "edit")
    _, rejected_run = _submit(airflow, "no")
    _waiting(airflow, airflow_logs, edited_run)
    _waiting(airflow, airflow_logs, rejected_run)
    edited = SCRIPT + "\n\nAt night the lamp turns and the harbour sleeps."
    edit = {"chosen_options": ["Approve my edits"], "params_input": {"script": edited, "reason": None}}
    reject = {"chosen_options": ["Reject"], "params_input": {"script": SCRIPT, "reason": "Wrong harbour"}}
    airflow.patch(_hitl(edited_run), json=edit).raise_for_status()
    airflow.patch(_hitl(rejected_run), json=reject).raise_for_status()
    _ends_in_success(airflow, airflow_logs, edited_run, again=lambda: airflow.patch(_hitl(edited_run), json=edit))
    project = "SELECT id FROM video.projects WHERE dag_run_id = :r"
    assert count_rows("scenes", f"project_id = ({project})", r=edited_run) == 3
    assert count_rows("scripts", f"project_id = ({project}) AND source = 'review'", r=edited_run) == 1
    # nothing went wrong: the editor said no
    _ends_in_success(airflow, airflow_logs, rejected_run, again=lambda: airflow.patch(_hitl(rejected_run), json=reject))
    reason = f"rejected in review by {AIRFLOW_USER}: Wrong harbour"
    assert count_rows("projects", "dag_run_id = :r AND status = 'rejected' AND error = :e", r=rejected_run, e=reason)
    assert count_rows("requests", "dag_run_id = :r AND status = 'rejected'", r=rejected_run) == 1
    assert _paid(count_rows, rejected_run) == 0
    tis = airflow.get(f"/dags/{DAG}/dagRuns/{rejected_run}/taskInstances").json()["task_instances"]
    states = {ti["task_id"]: ti["state"] for ti in tis}
    assert states["review"] == "skipped" and states["publish"] == "skipped"
    assert states.get("media") in (None, "skipped")  # never expanded: no scene was imaged

    def told() -> list[str]:
        outbox = airflow_site.data_dir / "outbox"
        texts = [p.read_text(errors="replace") for p in outbox.glob("*.eml")] if outbox.is_dir() else []
        return [t for t in texts if "script rejected" in t and rejected_run.removeprefix("video__") in t]

    (mail,) = wait_for(told, timeout_s=60, what="the rejection email")
    assert "Wrong harbour" in mail


def test_through_airflows_menu_to_the_required_action_where_markdown_and_html_stay_text(
    browser_page: Any,
    airflow: httpx.Client,
    airflow_logs: Path,
    airflow_site: AirflowSite,
    count_rows: Callable[..., int],
) -> None:
    """A submitter's title and scenes hold Markdown and HTML that would hide narrated text, link away and fetch
    images from elsewhere when an editor opens the review: the editor reads them exactly as they will be narrated,
    and the browser asks the outside server for nothing."""
    page = browser_page
    outside = HTTPServer(host="127.0.0.1", port=0)
    outside.start()
    seen: list[str] = []
    elsewhere = f"localhost:{outside.port}"

    def outside_request(request: Any) -> None:
        if elsewhere in request.url:
            seen.append(request.url)

    page.on("request", outside_request)
    try:
        title = f"**Loud** <img src=http://{elsewhere}/title.png> [click](http://{elsewhere}/t)"
        scenes = [
            "**Gulls** follow _them_ past <b>the</b> old `lighthouse` # not a heading",
            f"![pixel](http://{elsewhere}/pixel.png) then [a link](http://{elsewhere}/l) and "
            f"<img src=http://{elsewhere}/tag.png> <!-- hidden but narrated -->",
        ]
        request_id, run_id = _submit(airflow, "ui", title=title, script="\n\n".join(scenes))
        _waiting(airflow, airflow_logs, run_id)
        frame = videos_in_airflow(page, airflow_site.api_url, request_key=request_id)
        frame.get_by_text("review: waiting for an editor").wait_for()
        assert frame.locator("#d-title").inner_text() == f"{title} {request_id}"  # the Videos page: text as well
        page.screenshot(path=str(SCREENSHOTS / "review-videos-page.png"), full_page=True)
        frame.get_by_role("link", name="Review the script (required action)").click()
        # Airflow's own page, not inside the frame (a history entry of its router: no load event to wait for)
        wait_for(lambda: "/required_actions" in page.url, timeout_s=30, what="the required action", interval_s=0.2)
        # each scene as the segmenter made it (what is narrated): its text, not rendered
        for scene in segment_script("\n\n".join(scenes)):
            page.get_by_text(f"{scene.index + 1}. {scene.text}", exact=True).wait_for()
        page.get_by_text(f"{title} {request_id}", exact=True).first.wait_for()  # the title, in our bold
        page.screenshot(path=str(SCREENSHOTS / "review-required-action.png"), full_page=True)
        content = page.locator("main") if page.locator("main").count() else page.locator("body")
        assert content.locator(f'img[src*="{elsewhere}"], a[href*="{elsewhere}"], b, code').count() == 0
        script = page.locator("#element_script")  # a text area: the script keeps its paragraphs (scene breaks)
        assert script.input_value() == "\n\n".join(scenes)
        # the run's note (its title) on the run's page: the same text, nothing rendered
        page.goto(f"{airflow_site.api_url}/dags/{DAG}/runs/{run_id}")
        page.get_by_text(f"{title} {request_id}", exact=True).first.wait_for()
        assert page.locator(f'img[src*="{elsewhere}"], a[href*="{elsewhere}"]').count() == 0
        assert seen == [] and outside.log == []  # nothing was fetched from the outside server
    finally:
        page.remove_listener("request", outside_request)
        outside.clear()
        outside.stop()

    def approve_in_the_ui() -> None:
        page.goto(f"{airflow_site.api_url}/dags/{DAG}/runs/{run_id}/tasks/review/required_actions?map_index=-1")
        page.get_by_role("button", name="Approve", exact=True).click()

    approve_in_the_ui()
    _ends_in_success(airflow, airflow_logs, run_id, again=approve_in_the_ui)
    assert count_rows("projects", "dag_run_id = :r AND status = 'completed'", r=run_id) == 1

    # and a rejection with its reason, in the same form
    _, rejected_run = _submit(airflow, "ui-no")
    _waiting(airflow, airflow_logs, rejected_run)

    def reject_in_the_ui() -> None:
        page.goto(f"{airflow_site.api_url}/dags/{DAG}/runs/{rejected_run}/tasks/review/required_actions?map_index=-1")
        page.get_by_text("Gulls follow them past the old lighthouse").first.wait_for()
        page.locator("#element_reason").fill("Too short for the channel")
        page.get_by_role("button", name="Reject", exact=True).click()

    reject_in_the_ui()
    _ends_in_success(airflow, airflow_logs, rejected_run, again=reject_in_the_ui)
    reason = f"rejected in review by {AIRFLOW_USER}: Too short for the channel"
    assert count_rows("projects", "dag_run_id = :r AND status = 'rejected' AND error = :e", r=rejected_run, e=reason)
    assert _paid(count_rows, rejected_run) == 0
    page.goto(f"{airflow_site.api_url}/video-factory/videos#video={rejected_run.removeprefix('video__')}")
    page.get_by_text("Too short for the channel").first.wait_for()
    page.screenshot(path=str(SCREENSHOTS / "review-rejected.png"), full_page=True)
