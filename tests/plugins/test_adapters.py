"""The Airflow adapters of the providers: connections into credentials, errors into retry decisions."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from airflow.sdk.definitions.retry_policy import RetryAction

from pipeline.config import Settings
from pipeline.errors import InvalidRequest, ProviderError, http_status_error
from video_factory.connections import api_key, aws_client, render_environment
from video_factory.errors import ProviderRetryPolicy


def test_retry_after_sets_the_delay_of_the_next_try() -> None:
    policy = ProviderRetryPolicy(max_delay_s=600)
    limited = http_status_error("stability", 429, "rate limited", retry_after="30")
    decision = policy.evaluate(limited, try_number=1, max_tries=3)
    assert (decision.action, decision.retry_delay) == (RetryAction.RETRY, dt.timedelta(seconds=30))
    assert "stability asked to retry after 30 s" in (decision.reason or "")

    huge = http_status_error("gemini", 503, "busy", retry_after="86400")
    assert policy.evaluate(huge, try_number=1, max_tries=3).retry_delay == dt.timedelta(seconds=600)
    dated = http_status_error("gemini", 503, "busy", retry_after="Wed, 21 Oct 2015 07:28:00 GMT")  # in the past
    assert policy.evaluate(dated, try_number=1, max_tries=3).retry_delay == dt.timedelta(seconds=1)
    # no Retry-After: the task's own exponential backoff
    assert policy.evaluate(http_status_error("x", 500, "boom"), 1, 3).action == RetryAction.DEFAULT
    assert policy.evaluate(http_status_error("x", 403, "no"), 1, 3).action == RetryAction.FAIL
    assert policy.evaluate(RuntimeError("a bug"), 1, 3).action == RetryAction.DEFAULT


def test_retryable_errors_go_to_airflows_retries_and_the_others_fail_the_task() -> None:
    policy = ProviderRetryPolicy(max_delay_s=600)
    assert policy.evaluate(http_status_error("stability", 500, "boom"), 1, 3).action == RetryAction.DEFAULT
    assert policy.evaluate(http_status_error("stability", 403, "moderated"), 1, 3).action == RetryAction.FAIL
    assert policy.evaluate(InvalidRequest("bad voice"), 1, 3).action == RetryAction.FAIL


@pytest.mark.parametrize(
    ("connection", "base_url"),
    [
        ({"conn_type": "generic", "password": "k1"}, None),
        (
            {"conn_type": "generic", "password": "k1", "host": "proxy.example.com", "port": 8443},
            "https://proxy.example.com:8443",
        ),
        ({"conn_type": "generic", "password": "k1", "extra": {"base_url": "http://127.0.0.1:9"}}, "http://127.0.0.1:9"),
    ],
)
def test_api_keys_come_from_connections(
    monkeypatch: pytest.MonkeyPatch, connection: dict[str, Any], base_url: str | None
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_STABILITY_DEFAULT", json.dumps(connection))
    key = api_key("stability_default")
    assert (key.key, key.base_url) == ("k1", base_url)
    assert "k1" not in repr(key)  # never printed in a log


def test_aws_clients_make_one_attempt_and_the_render_gets_the_connections_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    aws = {
        "conn_type": "aws",
        "login": "AKIAEXAMPLE",
        "password": "secret-example",
        "extra": {"region_name": "eu-west-1", "endpoint_url": "http://127.0.0.1:9"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(aws))
    client = aws_client("polly")
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert (client.meta.region_name, client.meta.endpoint_url) == ("eu-west-1", "http://127.0.0.1:9")

    monkeypatch.setenv("VIDEO_DATA_DIR", str(tmp_path))
    assert render_environment(Settings()) == {}  # local storage needs nothing
    monkeypatch.setenv("VIDEO_STORAGE_BACKEND", "s3")
    monkeypatch.setenv("VIDEO_S3_BUCKET", "b")
    assert render_environment(Settings()) == {
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret-example",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "VIDEO_S3_ENDPOINT_URL": "http://127.0.0.1:9",
    }


def test_a_missing_api_connection_fails_without_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_GEMINI_DEFAULT", raising=False)
    with pytest.raises(ProviderError, match="connection 'gemini_default' does not exist") as caught:
        api_key("gemini_default")
    assert caught.value.retryable is False and caught.value.provider == "gemini"


def test_a_refused_trigger_is_explained_by_the_field_airflow_refused_in_one_short_line() -> None:
    from video_factory.api_errors import short_reason

    body = json.dumps({"conf": {"title": "T", "script": "x" * 30_000, "colour": "red"}}).encode()
    long_detail = "Invalid input for param script: '" + "x" * 30_000 + "' is too long\n\nFailed validating ..."
    assert short_reason(long_detail, body) == "invalid video request: script: at most 20,000 characters (got 30,000)"
    # a conf the model accepts (nothing to say about it): Airflow's first line, cut short
    accepted = json.dumps({"conf": {"title": "T", "script": "Hi."}}).encode()
    assert short_reason(long_detail, accepted) == long_detail.splitlines()[0][:299] + "…"


def test_a_run_whose_every_task_was_skipped_sends_no_email_and_does_not_fail(settings: Any) -> None:
    """Airflow passes a DAG callback no task instance (no params, no dag_run) when every task was skipped: a run
    that another run's video stands for. Its callback ends quietly (it raised KeyError in the dag-processor)."""
    from video_factory.notifiers import VideoOutcomeNotifier

    VideoOutcomeNotifier(outcome="success", backend="outbox").notify(
        {"dag": None, "run_id": "video__dup-1__7", "reason": "success"}
    )
    assert not list(settings.outbox_dir.glob("*.eml"))
