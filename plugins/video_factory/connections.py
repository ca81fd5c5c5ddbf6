"""Resolve Airflow connections into what the core takes (engines, clients, keys); secrets stay in Airflow.

| connection | used for | fields |
| --- | --- | --- |
| ``video_db`` | the project's tables | a Postgres connection |
| ``aws_default`` | S3, Polly, SES | the amazon provider's AWS connection (keys, ``region_name``, ``endpoint_url``) |
| ``gemini_default`` | scripts from a topic | password = API key; extra ``base_url`` (optional) |
| ``stability_default`` | images | password = API key; extra ``base_url`` (optional) |
| ``pexels_default`` | stock footage and photos | password = API key; extra ``base_url`` (optional) |
| ``youtube_CHANNEL`` | a channel's YouTube uploads | login = OAuth client id, password = its secret, extra |
| | | ``refresh_token`` (``videoctl channel connect`` writes it); optional ``token_uri``, ``api_endpoint``, |
| | | ``ca_certs`` |
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from pipeline.config import Settings
from pipeline.credentials import ApiKey
from pipeline.db import VideoRepository, connect
from pipeline.errors import ProviderError
from pipeline.storage import Storage, open_storage
from video_factory.conn_ids import AWS_CONN_ID, VIDEO_DB_CONN_ID

if TYPE_CHECKING:
    from pipeline.publish.youtube import YouTubeAccount


def video_repository(conn_id: str = VIDEO_DB_CONN_ID, *, keep: bool = False) -> VideoRepository:
    """The project's tables through the ``video_db`` Postgres connection (``keep``: one connection for a task
    process's transactions, see ``pipeline.db.connect``).

    For a Unix-socket server put the socket folder in the extra ``{"sqlalchemy_query": {"host": "/dir"}}``.
    """
    url = PostgresHook(postgres_conn_id=conn_id).sqlalchemy_url
    if not keep:
        return VideoRepository(connect(url))
    key = (os.getpid(), url.render_as_string(hide_password=False))  # a forked process makes its own
    if key not in _KEPT:
        _KEPT[key] = VideoRepository(connect(url, keep=True))
    return _KEPT[key]


_KEPT: dict[tuple[int, str], VideoRepository] = {}  # per process and database: the task process's one engine


def api_key(conn_id: str) -> ApiKey:
    """The API key (the connection's password) and an optional ``base_url`` (extra, else the host).

    A missing connection is a configuration error that no retry can fix.
    """
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ProviderError(
            f"the Airflow connection {conn_id!r} does not exist: add it (password = API key), see README.md",
            provider=conn_id.removesuffix("_default"),
            retryable=False,
        ) from None
    base_url = (conn.extra_dejson or {}).get("base_url") or conn.host or None
    if base_url and "://" not in base_url:
        base_url = f"https://{base_url}" + (f":{conn.port}" if conn.port else "")
    return ApiKey(key=conn.password or "", base_url=base_url)


def youtube_account(conn_id: str) -> YouTubeAccount:
    """A channel's YouTube grant; a missing or incomplete connection is final and says how to make it."""
    from pydantic import ValidationError

    from pipeline.publish.youtube import YouTubeAccount

    reconnect = "run videoctl channel connect (README.md, 'Publishing to YouTube')"
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ProviderError(
            f"the Airflow connection {conn_id!r} does not exist: {reconnect}", provider="youtube", retryable=False
        ) from None
    extra = conn.extra_dejson or {}
    try:
        return YouTubeAccount.model_validate(
            {
                "client_id": conn.login or "",
                "client_secret": conn.password or "",
                **{k: v for k, v in extra.items() if k in YouTubeAccount.model_fields},
            }
        )
    except ValidationError:
        raise ProviderError(
            f"the Airflow connection {conn_id!r} holds no refresh token: {reconnect}",
            provider="youtube",
            retryable=False,
        ) from None


def aws_client(service: str, conn_id: str = AWS_CONN_ID, *, read_timeout_s: float = 120) -> Any:
    """A boto3 client from the ``aws_default`` connection, making one attempt per call (Airflow retries)."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    from pipeline.aws import no_retry_config

    hook = AwsBaseHook(aws_conn_id=conn_id, client_type=service)
    config = hook.config.merge(no_retry_config(read_timeout_s=read_timeout_s))
    return hook.get_client_type(config=config)


def storage(settings: Settings) -> Storage:
    """Local storage, or S3 through the ``aws_default`` connection."""
    if settings.storage.storage_backend == "s3":
        return open_storage(settings, s3_client=aws_client("s3"))
    return open_storage(settings)


def render_environment(settings: Settings, conn_id: str = AWS_CONN_ID) -> dict[str, str]:
    """What the local render process needs to reach S3 with the ``aws_default`` connection's credentials.

    (The render pod gets the same variables from its Kubernetes Secret instead.)
    """
    if settings.storage.storage_backend != "s3":
        return {}
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    hook = AwsBaseHook(aws_conn_id=conn_id, client_type="s3")
    credentials = hook.get_credentials()
    env = {"AWS_ACCESS_KEY_ID": credentials.access_key, "AWS_SECRET_ACCESS_KEY": credentials.secret_key}
    if credentials.token:
        env["AWS_SESSION_TOKEN"] = credentials.token
    region = hook.conn_region_name
    if region:
        env["AWS_DEFAULT_REGION"] = region
    endpoint = hook.conn_config.get_service_endpoint_url(service_name="s3")
    if endpoint and not settings.storage.s3_endpoint_url:
        env["VIDEO_S3_ENDPOINT_URL"] = endpoint
    return env
