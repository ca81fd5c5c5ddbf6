"""``python -m pipeline.render --spec SPEC [--result FILE]``: render one video from a JSON render spec.

SPEC is a local path or a storage key. The JSON result goes to stdout, to ``--result`` and, inside a
KubernetesPodOperator pod, to ``/airflow/xcom/return.json``. Exit codes: 0 done, 2 bad spec, 3 missing asset,
4 render failed, 5 output check failed, 75 render failed but a retry may help.
"""

from __future__ import annotations

import argparse
import json
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.render", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="render spec: a local JSON file or a storage key")
    parser.add_argument("--result", type=Path, help="also write the JSON result to this file")
    args = parser.parse_args(argv)

    settings = load_settings()
    storage = open_storage(settings)
    try:
        spec_path = Path(args.spec)
        raw = spec_path.read_bytes() if spec_path.is_file() else storage.read_bytes(args.spec)
        spec = RenderSpec.model_validate_json(raw)
    except (ValidationError, MissingAsset, ValueError) as exc:
        return _fail(EXIT_BAD_SPEC, f"bad render spec {args.spec!r}: {exc}"[:1000])
    try:
        result = render_video(
            spec,
            storage=storage,
            work_dir=settings.work_dir,
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


def _fail(code: int, message: str) -> int:
    """The reason as the last line of stderr (JSON, read by the runner), flattened to one line."""
    print(json.dumps({"error": " ".join(message.split()), "exit_code": code}), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
