"""Compare the render of this checkout with the render of another git revision, frame by frame (PSNR, SSIM).

Run by hand from the repository root (not part of `make test`):

    .venv/bin/python benchmarks/frame_compare.py --before 39e7a38          # every look, 6 scenes at 720p
    .venv/bin/python benchmarks/frame_compare.py --before 39e7a38 --height 1080 --frames-to /tmp/frames

The revision is checked out into a temporary git worktree; both renders take the same spec and inputs (the
generated ones of render_bench.py) through ``python -m pipeline.render``. Every frame of one output is compared
with the same frame of the other by ffmpeg's ``psnr`` and ``ssim`` filters (Y, U and V together); the worst frame
is named. With --frames-to, a few frames of each pair (mid-scene, mid-fade, late in a move) are written side by
side (before | after) as PNG to look at.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "include"), str(ROOT), str(ROOT / "benchmarks")]

from render_bench import SENTENCES, WIDTHS  # noqa: E402

from pipeline.models import RenderSpec  # noqa: E402
from pipeline.render.timeline import plan_timeline  # noqa: E402
from pipeline.request import LookAndSound  # noqa: E402
from pipeline.storage import LocalStorage  # noqa: E402
from tools.render_samples import sample_render_spec  # noqa: E402

LOOKS = {
    "plain": LookAndSound(
        ken_burns=False, crossfade_s=0, scene_padding_s=0, burn_subtitles=False, soft_subtitles=False
    ),
    "crossfade": LookAndSound(ken_burns=False, crossfade_s=0.5, scene_padding_s=0.3, burn_subtitles=False),
    "ken_burns": LookAndSound(ken_burns=True, crossfade_s=0, scene_padding_s=0.3, burn_subtitles=False),
    "all": LookAndSound(ken_burns=True, crossfade_s=0.5, scene_padding_s=0.3, burn_subtitles=True, soft_subtitles=True),
}


def render(code: Path, spec_path: Path, data_dir: Path, dest: Path) -> None:
    spec = RenderSpec.model_validate_json(spec_path.read_text())
    env = {**os.environ, "VIDEO_DATA_DIR": str(data_dir), "PYTHONPATH": str(code / "include")}
    subprocess.run(
        [sys.executable, "-m", "pipeline.render", "--spec", str(spec_path)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=code,
    )
    shutil.move(LocalStorage(data_dir / "storage").local_path(spec.output_key), dest)


def compare(before: Path, after: Path, work: Path) -> dict:
    """Mean SSIM and PSNR over all frames, and the frame with the lowest PSNR."""
    stats = work / "psnr.log"
    graph = f"[0:v]split[a0][a1];[1:v]split[b0][b1];[a0][b0]ssim;[a1][b1]psnr=stats_file={stats.name}"
    command = ["ffmpeg", "-hide_banner", "-nostats", "-i", str(after), "-i", str(before)]
    command += ["-lavfi", graph, "-f", "null", "-"]
    report = subprocess.run(command, capture_output=True, text=True, check=True, cwd=work).stderr
    ssim = float(re.search(r"SSIM .*All:([\d.]+)", report).group(1))  # type: ignore[union-attr]
    psnr = re.search(r"PSNR .*average:([\d.]+|inf)", report).group(1)  # type: ignore[union-attr]
    frames = [
        (float(m.group(2)) if m.group(2) != "inf" else float("inf"), int(m.group(1)))
        for m in re.finditer(r"n:(\d+) .*psnr_avg:([\d.]+|inf)", stats.read_text())
    ]
    worst_psnr, worst_frame = min(frames)
    return {"ssim": ssim, "psnr_db": float(psnr), "worst_psnr_db": worst_psnr, "worst_frame": worst_frame - 1}


def side_by_side(before: Path, after: Path, frame: int, dest: Path) -> None:
    graph = f"[0:v]select=eq(n\\,{frame})[a];[1:v]select=eq(n\\,{frame})[b];[a][b]hstack"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(before),
            "-i",
            str(after),
            "-lavfi",
            graph,
            "-frames:v",
            "1",
            str(dest),
        ],
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision to compare with")
    parser.add_argument("--scenes", type=int, default=6)
    parser.add_argument("--height", type=int, default=720, choices=sorted(WIDTHS))
    parser.add_argument("--looks", nargs="+", default=list(LOOKS), choices=list(LOOKS))
    parser.add_argument("--frames-to", type=Path, help="write before|after frames here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="frame-compare-") as scratch:
        work = Path(scratch)
        old_code = work / "before"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(old_code), args.before], cwd=ROOT, check=True)
        try:
            for look in args.looks:
                data = work / "data"
                texts = [f"{SENTENCES[i % len(SENTENCES)]} Scene {i + 1}." for i in range(args.scenes)]
                spec = sample_render_spec(
                    texts,
                    storage=LocalStorage(data / "storage"),
                    work_dir=data / "work",
                    width=WIDTHS[args.height],
                    height=args.height,
                    look=LOOKS[look],
                    run_id=f"compare-{look}",
                    title="Frame comparison",
                )
                spec_path = work / f"{look}.json"
                spec_path.write_text(spec.model_dump_json())
                before, after = work / f"{look}-before.mp4", work / f"{look}-after.mp4"
                render(old_code, spec_path, data, before)
                render(ROOT, spec_path, data, after)
                row = {"look": look, "height": args.height, **compare(before, after, work)}
                print(json.dumps(row), flush=True)
                if args.frames_to:
                    args.frames_to.mkdir(parents=True, exist_ok=True)
                    timeline = plan_timeline(spec)
                    picks = {
                        "worst": row["worst_frame"],
                        "mid-scene-2": timeline.starts[1] + timeline.scene_frames[1] // 2,
                        "fade-2": timeline.starts[1],
                        "late-scene-3": timeline.starts[3] - timeline.half_fade - 2,
                    }
                    for name, frame in picks.items():
                        side_by_side(before, after, frame, args.frames_to / f"{args.height}p-{look}-{name}.png")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old_code)], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
