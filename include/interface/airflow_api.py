"""Airflow's REST API (``/api/v2``): the one client of ``videoctl``, ``make demo``, the benchmarks and the tests.

Typed calls go through the official ``apache-airflow-client``; :attr:`Airflow.http` is the same login as a plain
HTTP client, for raw JSON. Configured by its fields or the environment: ``AIRFLOW_API_URL`` (default
``http://localhost:8080``, where ``make demo`` serves), and ``AIRFLOW_API_TOKEN`` or
``AIRFLOW_USERNAME``/``AIRFLOW_PASSWORD`` (default: the demo's ``admin`` and the password it generated in
``.local/airflow/passwords.json``). The token comes from ``POST /auth/token``, once per client.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import httpx

from pipeline.config import PROJECT_ROOT

DEMO_PASSWORDS = PROJECT_ROOT / ".local" / "airflow" / "passwords.json"
# exit codes of videoctl, one per kind of trouble (documented in its --help and the README)
EXIT_FAILED, EXIT_INVALID, EXIT_CONFLICT, EXIT_UNREACHABLE, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_FORBIDDEN = (
    1,
    3,
    4,
    5,
    6,
    7,
    8,
)


class ApiProblem(Exception):
    """One line for the user and the exit code that goes with it."""

    def __init__(self, message: str, exit_code: int, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status  # the HTTP status, when Airflow answered


@dataclass
class Airflow:
    """A logged-in client of one Airflow's REST API."""

    url: str = field(default_factory=lambda: os.environ.get("AIRFLOW_API_URL", "http://localhost:8080").rstrip("/"))
    token: str | None = field(default_factory=lambda: os.environ.get("AIRFLOW_API_TOKEN"))
    username: str = field(default_factory=lambda: os.environ.get("AIRFLOW_USERNAME", "admin"))
    password: str | None = field(default_factory=lambda: os.environ.get("AIRFLOW_PASSWORD"), repr=False)

    @cached_property
    def access_token(self) -> str:
        """The token given, else one from ``POST /auth/token`` (asked once per client)."""
        return self.token or self._login()

    @cached_property
    def client(self) -> Any:
        import airflow_client.client as airflow_client

        config = airflow_client.Configuration(host=self.url, access_token=self.access_token)
        return airflow_client.ApiClient(config)

    @cached_property
    def http(self) -> httpx.Client:
        """The same login as an HTTP client of ``/api/v2``, for the calls read or sent as raw JSON."""
        return httpx.Client(
            base_url=f"{self.url}/api/v2", headers={"Authorization": f"Bearer {self.access_token}"}, timeout=30
        )

    def publications(self, request_keys: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Where each request's video was published (the Videos page's route); {} where Airflow has no such page."""
        keys = [key for key in request_keys if key]
        if not keys:
            return {}
        try:
            answer = self.http.get(f"{self.url}/video-factory/api/publications", params={"request": keys})
        except httpx.TransportError:
            return {}
        return dict(answer.json()) if answer.status_code == 200 else {}

    def wait_for_dag(self, dag_id: str, timeout_s: float = 180) -> None:
        """Until the dag-processor has parsed ``dag_id`` and the API serves it."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self.http.get(f"/dags/{dag_id}").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ApiProblem(
                    f"the DAG {dag_id} did not appear within {timeout_s:.0f} s: see the dag-processor's log",
                    EXIT_NOT_FOUND,
                )
            time.sleep(0.5)

    def close(self) -> None:
        if "http" in self.__dict__:
            self.http.close()

    @cached_property
    def runs(self) -> Any:
        from airflow_client.client.api.dag_run_api import DagRunApi

        return DagRunApi(self.client)

    @cached_property
    def task_instances(self) -> Any:
        from airflow_client.client.api.task_instance_api import TaskInstanceApi

        return TaskInstanceApi(self.client)

    @cached_property
    def xcoms(self) -> Any:
        from airflow_client.client.api.x_com_api import XComApi

        return XComApi(self.client)

    @cached_property
    def connections(self) -> Any:
        from airflow_client.client.api.connection_api import ConnectionApi

        return ConnectionApi(self.client)

    def save_connection(self, conn_id: str, **fields: Any) -> bool:
        """Create the Airflow connection ``conn_id`` with ``fields`` or replace an existing one's; True if new."""
        from airflow_client.client.models.connection_body import ConnectionBody

        body = ConnectionBody(connection_id=conn_id, **fields)
        try:
            self.call("save the connection", self.connections.post_connection, body)
        except ApiProblem as problem:
            if problem.status != 409:
                raise
            self.call("save the connection", self.connections.patch_connection, conn_id, body)
            return False
        return True

    def call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        """``function(*args, **kwargs)`` with every API or network error turned into one :class:`ApiProblem`."""
        from airflow_client.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return function(*args, **kwargs)
        except ApiException as exc:
            raise problem_of(what, exc.status, exc.body) from None
        except HTTPError:
            raise ApiProblem(
                f"cannot reach Airflow at {self.url}: start it (make demo) or set AIRFLOW_API_URL", EXIT_UNREACHABLE
            ) from None

    def return_value(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        """A task's XCom return value (of mapped instance ``map_index``), or None when it has none."""
        try:
            entry = self.call(
                "read the result",
                self.xcoms.get_xcom_entry,
                dag_id,
                task_id,
                run_id,
                "return_value",
                map_index=map_index,
            )
        except ApiProblem as problem:
            if problem.exit_code == EXIT_NOT_FOUND:
                return None
            raise
        entry = getattr(entry, "actual_instance", entry)  # XComResponseNative (or its string form)
        value = getattr(entry, "value", entry)
        return getattr(value, "actual_instance", value)

    def _login(self) -> str:
        user = self.username
        password = self.password or _demo_password(user)
        if not password:
            raise ApiProblem(
                "no Airflow credentials: set AIRFLOW_API_TOKEN, or AIRFLOW_USERNAME and AIRFLOW_PASSWORD", EXIT_AUTH
            )
        try:
            response = httpx.post(f"{self.url}/auth/token", json={"username": user, "password": password}, timeout=30)
        except httpx.TransportError:
            raise ApiProblem(
                f"cannot reach Airflow at {self.url}: start it (make demo) or set AIRFLOW_API_URL", EXIT_UNREACHABLE
            ) from None
        if response.status_code not in (200, 201):
            raise problem_of("log in", response.status_code, response.text)
        return str(response.json()["access_token"])


_ANSWERS = {  # status -> (the line, with {detail} the server's reason or {what} was tried; exit code)
    400: ("refused: {detail}", EXIT_INVALID),
    422: ("refused: {detail}", EXIT_INVALID),
    401: (
        "Airflow did not accept the credentials: check AIRFLOW_USERNAME/AIRFLOW_PASSWORD or AIRFLOW_API_TOKEN",
        EXIT_AUTH,
    ),
    403: ("your Airflow user may not {what}: ask an admin for the User or Op role", EXIT_FORBIDDEN),
    404: ("not found: {detail}", EXIT_NOT_FOUND),
    409: ("already exists: {detail}", EXIT_CONFLICT),
}


def problem_of(what: str, status: int | None, body: str | bytes | None) -> ApiProblem:
    """An API error as one line: 400 the server's reason, 401/403 credentials, 404 not found, 409 taken."""
    detail = _detail(body)
    if status in _ANSWERS:
        line, code = _ANSWERS[status]
        return ApiProblem(line.format(detail=detail or what, what=what), code, status)
    if status is not None and status >= 500:  # the server's own failure: its log has the details, not the user
        return ApiProblem(
            f"could not {what}: Airflow answered {status} (its API server's log says why)", EXIT_FAILED, status
        )
    return ApiProblem(
        f"could not {what}: Airflow answered {status}{': ' + detail if detail else ''}", EXIT_FAILED, status
    )


def _detail(body: str | bytes | None) -> str:
    if not body:
        return ""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    try:
        detail = json.loads(text).get("detail", text)
    except (ValueError, AttributeError):
        detail = text
    if isinstance(detail, list):  # FastAPI's validation errors
        detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
    elif isinstance(detail, dict):
        detail = detail.get("reason") or detail.get("message") or json.dumps(detail)
    return " ".join(str(detail).split())[:300]


def _demo_password(user: str) -> str | None:
    try:
        return str(json.loads(DEMO_PASSWORDS.read_text())[user])
    except (OSError, ValueError, KeyError):
        return None
