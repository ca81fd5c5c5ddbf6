"""``python -m pipeline.render --spec SPEC [--result FILE]``: render one video from a JSON render spec.

SPEC is a local path or a storage key. The JSON result goes to stdout, to ``--result`` and, inside a
KubernetesPodOperator pod, to ``/airflow/xcom/return.json``. Exit codes: 0 done, 2 bad spec, 3 missing asset,
4 render failed, 5 output check failed, 75 render failed but a retry may help.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import sys
import traceback
from pathlib import Path

from pydantic import ValidationError

from pipeline.atomic import write_atomic
from pipeline.config import load_settings
from pipeline.errors import MissingAsset, OutputCheckFailed, PipelineError
from pipeline.models import RenderSpec
from pipeline.render.ffmpeg import render_video
from pipeline.storage import open_storage

EXIT_BAD_SPEC = 2
EXIT_MISSING_ASSET = 3
EXIT_RENDER_FAILED = 4
EXIT_CHECK_FAILED = 5
EXIT_RETRYABLE = 75  # EX_TEMPFAIL
XCOM_RETURN = Path("/airflow/xcom/return.json")
PR_SET_PDEATHSIG = 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.render", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="render spec: a local JSON file or a storage key")
    parser.add_argument("--result", type=Path, help="also write the JSON result to this file")
    parser.add_argument("--work-dir", type=Path, help="scratch folder of this attempt (default: the data folder's)")
    parser.add_argument("--attempt", type=int, default=1, help="the task's try number: one set of outputs per try")
    parser.add_argument("--parent-pid", type=int, help="stop (with every child) when this process dies")
    args = parser.parse_args(argv)
    _stop_whole_group_on_sigterm(args.parent_pid)

    settings = load_settings()
    storage = open_storage(settings)
    try:
        spec_path = Path(args.spec)
        raw = spec_path.read_bytes() if spec_path.is_file() else storage.read_bytes(args.spec)
        spec = RenderSpec.model_validate_json(raw).for_attempt(args.attempt)
    except (ValidationError, MissingAsset, ValueError) as exc:
        return _fail(EXIT_BAD_SPEC, f"bad render spec {args.spec!r}: {exc}"[:1000])
    try:
        result = render_video(
            spec,
            storage=storage,
            work_dir=args.work_dir or settings.work_dir,
            ffmpeg_bin=settings.ffmpeg_bin,
            ffprobe_bin=settings.ffprobe_bin,
            timeout_s=settings.render_timeout_s,
        )
    except MissingAsset as exc:
        return _fail(EXIT_MISSING_ASSET, exc.message)
    except OutputCheckFailed as exc:
        return _fail(EXIT_CHECK_FAILED, exc.message)
    except PipelineError as exc:  # RenderError, or a storage ProviderError: a retry may help when it says so
        return _fail(EXIT_RETRYABLE if exc.retryable else EXIT_RENDER_FAILED, exc.message)
    except Exception as exc:  # a bug: the traceback goes to the log, one line to the task and the email
        traceback.print_exc()
        return _fail(EXIT_RENDER_FAILED, f"the render failed unexpectedly: {type(exc).__name__}: {exc}"[:500])

    payload = result.model_dump_json()
    if args.result:
        write_atomic(args.result, payload.encode("utf-8"))
    if XCOM_RETURN.parent.is_dir():
        write_atomic(XCOM_RETURN, payload.encode("utf-8"))
    print(payload)
    return 0


def _stop_whole_group_on_sigterm(parent_pid: int | None) -> None:
    """Leading its own process group (the runner starts it so), the render takes its ffmpeg children with it
    when it is told to stop: by the runner, by Kubernetes, or by the kernel when ``parent_pid`` dies.

    Exits at once when ``parent_pid`` died already (before the kernel was asked to watch it).
    """
    if os.getpgrp() != os.getpid():
        return  # started inside someone else's group (a shell, a test): never kill that

    def stop(signum: int, frame: object) -> None:
        os.killpg(0, signal.SIGKILL)

    signal.signal(signal.SIGTERM, stop)
    if parent_pid is not None:
        with contextlib.suppress(OSError, AttributeError):  # Linux only; elsewhere the runner's check remains
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:
            sys.exit(_fail(EXIT_RETRYABLE, "the process that started the render is gone"))


def _fail(code: int, message: str) -> int:
    """The reason as the last line of stderr (JSON, read by the runner), flattened to one line."""
    print(json.dumps({"error": " ".join(message.split()), "exit_code": code}), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
