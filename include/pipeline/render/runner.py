"""Run the render entry point as a local subprocess and turn its exit code back into the core's errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from pipeline.commands import stderr_tail
from pipeline.errors import MissingAsset, OutputCheckFailed, RenderError
from pipeline.models import RenderResult
from pipeline.render.__main__ import (
    EXIT_BAD_SPEC,
    EXIT_CHECK_FAILED,
    EXIT_MISSING_ASSET,
    EXIT_RETRYABLE,
)


def render_in_subprocess(
    spec_key: str, *, work_dir: Path, timeout_s: float, extra_env: Mapping[str, str] | None = None
) -> RenderResult:
    """``python -m pipeline.render --spec KEY`` with this process's environment (same settings, same storage).

    ``extra_env`` adds what the environment lacks, e.g. the storage credentials of an Airflow connection.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="render-result-") as scratch:
        result_file = Path(scratch) / "result.json"
        command = [sys.executable, "-m", "pipeline.render", "--spec", spec_key, "--result", str(result_file)]
        try:
            completed = subprocess.run(
                command,
                capture_output=True,
                text=True,
                check=False,
                timeout=timeout_s + 60,
                env={**os.environ, **(extra_env or {})},
            )
        except subprocess.TimeoutExpired:
            raise RenderError(f"the render process did not finish within {timeout_s:.0f}s", retryable=True) from None
        if completed.returncode == 0 and result_file.is_file():
            return RenderResult.model_validate_json(result_file.read_text(encoding="utf-8"))
    code = completed.returncode
    message = _reason(completed.stderr) or f"the render process exited with status {code}"
    if code == EXIT_MISSING_ASSET:
        raise MissingAsset(message)
    if code == EXIT_CHECK_FAILED:
        raise OutputCheckFailed(message)
    if code == EXIT_BAD_SPEC:
        raise RenderError(f"bad render spec: {message}")
    # Killed by a signal (negative status: OOM kill, eviction) or EX_TEMPFAIL may pass on retry; others won't.
    raise RenderError(message, retryable=code < 0 or code == EXIT_RETRYABLE)


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
