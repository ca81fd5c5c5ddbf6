"""Faults of the services a video depends on, for a minute each, in ``dag.test()`` runs with every paid provider
real (stand-ins and moto on loopback): S3 going away mid-run, and Stability and Polly answering 429/500. Every
video completes after retries; nothing is paid, stored or mailed twice."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine

from tests.dags.parsing import parse_dag
from tests.dags.test_real_providers import THREE_SCENES, _conf, _ledger, _ses_mails
from tests.outage_proxy import OutageProxy

pytestmark = pytest.mark.fault
OUTAGE_S = 60


@pytest.fixture
def storage_proxy(
    providers: dict[str, Any], moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[OutageProxy]:
    """S3 (and SES) reached through a proxy the test can take down; the connection points at the proxy."""
    upstream = urlsplit(moto_server)
    proxy = OutageProxy((upstream.hostname or "127.0.0.1", upstream.port or 80))
    aws = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    aws["extra"]["endpoint_url"] = proxy.url
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(aws))
    yield proxy
    proxy.close()


def _patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries that outlast a minute's fault: 5 s, 10 s, 20 s, 20 s, ..."""
    for name, value in {"VIDEO_RETRIES": "8", "VIDEO_RETRY_DELAY_S": "5", "VIDEO_MAX_RETRY_DELAY_S": "20"}.items():
        monkeypatch.setenv(name, value)  # read when the DAG is parsed


def test_a_storage_outage_mid_run_ends_with_the_video_and_every_image_paid_once(
    providers: dict[str, Any], storage_proxy: OutageProxy, video_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _patient(monkeypatch)
    bucket = providers["bucket"]
    # S3 goes away just as the first paid image is being stored: the upload fails after Stability was paid
    storage_proxy.cut_when(f"PUT /{bucket}/media/", OUTAGE_S)
    conf = _conf(script=THREE_SCENES, topic="")
    run = parse_dag().test(run_conf=conf)

    assert run.state == "success"
    ((start, end),) = storage_proxy.outages
    assert end - start == OUTAGE_S
    tries = {(ti.task_id, ti.map_index): ti.try_number for ti in run.get_task_instances()}
    assert max(tries.values()) >= 2  # the outage was met, and retried through
    assert len(providers["stability"].requests) == 3  # the image whose upload failed was kept, not bought again
    ledger = _ledger(video_engine, conf["request_id"], run.run_id)
    assert ledger[("stability", "ok")] == (3, 9.0) and ("stability", "cached") not in ledger
    assert ledger[("polly", "ok")][0] == 3
    listed = providers["s3"].list_objects_v2(Bucket=bucket)["Contents"]
    keys = [item["Key"] for item in listed]
    assert len([k for k in keys if k.startswith("media/")]) == 3
    assert len([k for k in keys if k.startswith("videos/") and k.endswith(".mp4")]) == 1
    assert len(_ses_mails(conf["title"])) == 1


def test_a_provider_storm_ends_with_the_video_and_one_paid_call_per_asset(
    providers: dict[str, Any], video_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stability and Polly answer their next four calls with 429 (Retry-After 10 s) and 500 by turns (it was a
    fixed minute: the same failures, and a minute of waiting for whichever calls fell into it)."""
    _patient(monkeypatch)
    for stub in (providers["stability"], providers["polly"]):
        stub.storm(4, retry_after=10)
    conf = _conf(script=THREE_SCENES, topic="")
    run = parse_dag().test(run_conf=conf)

    assert run.state == "success"
    assert providers["stability"].storm_answers == 4 and providers["polly"].storm_answers == 4
    ok = {name: [r for r in providers[name].requests if not r["failed"]] for name in ("stability", "polly")}
    assert len(ok["stability"]) == 3
    assert len([r for r in ok["polly"] if "/v1/speech" in r["path"]]) == 6  # audio and speech marks, per scene
    ledger = _ledger(video_engine, conf["request_id"], run.run_id)
    assert ledger[("stability", "ok")] == (3, 9.0)
    assert ledger[("polly", "ok")][0] == 3
    assert ledger[("stability", "error_retryable")][0] >= 1 and ledger[("polly", "error_retryable")][0] >= 1
    listed = providers["s3"].list_objects_v2(Bucket=providers["bucket"])["Contents"]
    assert len([item for item in listed if item["Key"].startswith("media/")]) == 3
    assert len(_ses_mails(conf["title"])) == 1
