"""Every REST error ``videoctl`` can meet becomes one line with its own exit code (the server's own bodies)."""

from __future__ import annotations

import json

import pytest

from interface.airflow_api import problem_of


@pytest.mark.parametrize(
    ("status", "body", "code", "line"),
    [
        (
            400,
            json.dumps({"detail": "title: at most 200 characters (got 250)"}),
            3,
            "refused: title: at most 200 characters (got 250)",
        ),
        (
            422,
            json.dumps({"detail": [{"loc": ["body", "conf", "aspect"], "msg": "Input should be '16:9'"}]}),
            3,
            "refused: conf.aspect: Input should be '16:9'",
        ),
        (
            401,
            json.dumps({"detail": "Not authenticated"}),
            6,
            "Airflow did not accept the credentials: check AIRFLOW_USERNAME/AIRFLOW_PASSWORD or AIRFLOW_API_TOKEN",
        ),
        (
            403,
            json.dumps({"detail": "Forbidden"}),
            8,
            "your Airflow user may not cancel the run: ask an admin for the User or Op role",
        ),
        (
            404,
            json.dumps({"detail": "The DagRun with dag_id: `video_production` and run_id: `x` was not found"}),
            7,
            "not found: The DagRun with dag_id: `video_production` and run_id: `x` was not found",
        ),
        (
            409,
            json.dumps({"detail": {"reason": "Unique constraint violation", "statement": "INSERT ..."}}),
            4,
            "already exists: Unique constraint violation",
        ),
        (
            500,
            "Internal Server Error\nTraceback (most recent call last): ...",
            1,
            "could not cancel the run: Airflow answered 500 (its API server's log says why)",
        ),
    ],
)
def test_an_api_error_is_one_line_with_its_exit_code(status: int, body: str, code: int, line: str) -> None:
    problem = problem_of("cancel the run", status, body)
    assert (problem.exit_code, problem.message) == (code, line)
    assert "\n" not in problem.message


@pytest.mark.parametrize("status", [400, 409, 500, 503])
def test_the_problem_keeps_the_http_status_for_callers_that_retry_server_errors(status: int) -> None:
    # videoctl cancel tries again on a 5xx (Airflow 3.3.2 answers 500 when the scheduler holds the run's row)
    assert problem_of("cancel the run", status, b"{}").status == status
