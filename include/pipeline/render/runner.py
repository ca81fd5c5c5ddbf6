"""Run the render entry point as a local subprocess and turn its exit code back into the core's errors.

The render runs in its own process group with its own scratch folder per attempt. Whatever way the attempt ends
(done, failed, timed out, the task killed, the task's supervisor gone), the whole group (the render and its
ffmpeg children) is killed and the attempt's scratch folder removed; a new attempt first removes what older
attempts of the same run left behind (a worker killed with SIGKILL cleans nothing up).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from pipeline.commands import stderr_tail
from pipeline.errors import MissingAsset, OutputCheckFailed, RenderError
from pipeline.models import RenderResult
from pipeline.names import safe_name
from pipeline.render.__main__ import (
    EXIT_BAD_SPEC,
    EXIT_CHECK_FAILED,
    EXIT_MISSING_ASSET,
    EXIT_RETRYABLE,
)

# The render process sees only these variables (and what ``extra_env`` adds): never Airflow's secrets
# (AIRFLOW__*: the JWT secret, the database URL, connections) nor the providers' API keys.
ALLOWED_ENV = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "NLTK_DATA",
        "FONTCONFIG_FILE",
        "FONTCONFIG_PATH",
        "XDG_CACHE_HOME",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "AWS_CA_BUNDLE",
    }
)
ALLOWED_PREFIXES = ("LC_", "VIDEO_", "AWS_")
SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD)", re.IGNORECASE)
STORAGE_CREDENTIALS = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})
POLL_S = 0.5
KILL_GRACE_S = 5.0


def render_environment_from(environ: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The render's environment: the allow-listed part of ``environ`` (storage credentials are the only secrets
    it may see), plus ``extra``."""

    def allowed(name: str) -> bool:
        if name in ALLOWED_ENV or name in STORAGE_CREDENTIALS:
            return True
        return name.startswith(ALLOWED_PREFIXES) and not SECRET_NAME.search(name)

    return {**{k: v for k, v in environ.items() if allowed(k)}, **(extra or {})}


def render_in_subprocess(
    spec_key: str,
    *,
    work_dir: Path,
    timeout_s: float,
    extra_env: Mapping[str, str] | None = None,
    run_name: str = "render",
    attempt: int = 1,
) -> RenderResult:
    """``python -m pipeline.render --spec KEY`` in its own process group, with the allow-listed environment.

    ``extra_env`` adds what the environment lacks, e.g. the storage credentials of an Airflow connection.
    ``run_name`` names the run's scratch folder (``work_dir/renders/RUN/try-N``); ``attempt`` is the task's try.
    """
    run_dir = work_dir / "renders" / safe_name(run_name, fallback="render")
    remove_older_attempts(run_dir, attempt)
    scratch = run_dir / f"try-{attempt}"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        result_file, stderr_file = scratch / "result.json", scratch / "stderr.log"
        command = [
            sys.executable,
            "-m",
            "pipeline.render",
            "--spec",
            spec_key,
            "--result",
            str(result_file),
            "--work-dir",
            str(scratch / "work"),
            "--attempt",
            str(attempt),
        ]
        with stderr_file.open("wb") as stderr:
            code = run_in_own_group(
                command, env=render_environment_from(os.environ, extra_env), timeout_s=timeout_s + 60, stderr=stderr
            )
        if code == 0 and result_file.is_file():
            return RenderResult.model_validate_json(result_file.read_text(encoding="utf-8"))
        errors = stderr_file.read_text(encoding="utf-8", errors="replace")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    message = _reason(errors) or f"the render process exited with status {code}"
    if code == EXIT_MISSING_ASSET:
        raise MissingAsset(message)
    if code == EXIT_CHECK_FAILED:
        raise OutputCheckFailed(message)
    if code == EXIT_BAD_SPEC:
        raise RenderError(f"bad render spec: {message}")
    # Killed by a signal (negative status: OOM kill, eviction) or EX_TEMPFAIL may pass on retry; others won't.
    raise RenderError(message, retryable=code < 0 or code == EXIT_RETRYABLE)


def remove_older_attempts(run_dir: Path, attempt: int) -> None:
    """What earlier attempts of this run left (a SIGKILLed worker removes nothing itself)."""
    if run_dir.is_dir():
        for old in run_dir.iterdir():
            if old.name != f"try-{attempt}":
                shutil.rmtree(old, ignore_errors=True)


def run_in_own_group(command: list[str], *, env: Mapping[str, str], timeout_s: float, stderr: IO[bytes]) -> int:
    """Run ``command`` as the leader of a new process group; returns its exit status.

    The group is killed whole when the command times out, when this process is asked to stop (any exception,
    e.g. Airflow's task termination), and when this process's parent (the task's supervisor) dies; if this
    process itself is killed outright, the child (told this process's pid) gets SIGTERM from the kernel and kills
    its own group.
    """
    parent = os.getppid()
    process = subprocess.Popen(
        [*command, "--parent-pid", str(os.getpid())],
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                return process.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    raise RenderError(
                        f"the render process did not finish within {timeout_s:.0f} s", retryable=True
                    ) from None
                if os.getppid() != parent:
                    raise RenderError("the task's supervisor is gone: the render was stopped", retryable=True) from None
    finally:
        kill_group(process)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's whole group, SIGKILL to whatever is left after a grace period."""
    for sig, wait_s in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break  # no process of the group is left
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and _group_alive(process.pid):
            process.poll()  # reap the leader, so it does not linger as a zombie member
            time.sleep(0.05)
    process.poll()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _reason(stderr: str) -> str:
    """The entry point's one-line reason (its last JSON line on stderr), else the end of stderr in one line."""
    for line in reversed(stderr.strip().splitlines()):
        try:
            error = json.loads(line).get("error")
        except (ValueError, AttributeError):
            continue
        if isinstance(error, str) and error:
            return " ".join(error.split())
    return stderr_tail(stderr) if stderr.strip() else ""
