"""The paid providers configured through Airflow connections, against stand-ins and moto on loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest

SENDER = "video-factory@localhost"


@pytest.fixture
def providers(  # noqa: PLR0917 - pytest passes fixtures by name
    monkeypatch: pytest.MonkeyPatch,
    gemini_stub: Any,
    stability_stub: Any,
    polly_stub: Any,
    moto_server: str,
    s3_bucket: tuple[Any, str],
) -> dict[str, Any]:
    """Configure the paid providers through Airflow connections, the way production does."""
    import boto3

    client, bucket = s3_bucket
    boto3.client("ses", endpoint_url=moto_server, region_name="us-east-1").verify_email_identity(EmailAddress=SENDER)
    aws = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {
            "region_name": "us-east-1",
            "endpoint_url": moto_server,
            "service_config": {"polly": {"endpoint_url": polly_stub.url}},
        },
    }
    for name, value in {
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws),
        "AIRFLOW_CONN_GEMINI_DEFAULT": json.dumps(
            {"conn_type": "generic", "password": "gm-test", "extra": {"base_url": gemini_stub.url}}
        ),
        "AIRFLOW_CONN_STABILITY_DEFAULT": json.dumps(
            {"conn_type": "generic", "password": "sk-test", "extra": {"base_url": stability_stub.url}}
        ),
        "VIDEO_SCRIPT_PROVIDER": "gemini",
        "VIDEO_IMAGE_PROVIDER": "stability",
        "VIDEO_VOICE_PROVIDER": "polly",
        "VIDEO_STORAGE_BACKEND": "s3",
        "VIDEO_S3_BUCKET": bucket,
        "VIDEO_EMAIL_BACKEND": "ses",
        "VIDEO_EMAIL_FROM": f"Video Factory <{SENDER}>",
        "VIDEO_PROVIDER_TIMEOUT_S": "10",
    }.items():
        monkeypatch.setenv(name, value)
    # the render process must get its S3 credentials from the connection, not from the environment
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    return {"gemini": gemini_stub, "stability": stability_stub, "polly": polly_stub, "s3": client, "bucket": bucket}
