"""Render speed and memory against the floor (a bare libx264 encode of the same frames) and against MoviePy.

Run by hand from the repository root (not part of `make test`):

    .venv/bin/python benchmarks/render_bench.py                 # every case, a table
    .venv/bin/python benchmarks/render_bench.py --json --scenes 10 --heights 720 --modes plain

For each case it renders generated inputs (Pillow title cards, espeak-ng narration of about two seconds a scene)
with ``python -m pipeline.render``, then, in the same run, feeds frames to a second ffmpeg that encodes them
with the same libx264 settings; only that encoder is timed: the floor. Two floors:
- "exact": the very frames the render encodes. The render runs once more per case with lossless libx264 (crf 0,
  its one patched setting; untimed; its frames are the same every time), and that output's decoded frames are
  encoded: the ratio is the render's cost over encoding its own pictures.
- "decoded" (the only floor before 2026-11-26): the decoded frames of the render's own (lossy) output. Those
  frames are smoother than the render's (x264 already took detail out): x264 spent 8-19 % less on them in the
  3-run medians of 2026-11-26, so every ratio against this floor is that much higher. CPU time
is user+system of a process and everything it waited for (os.wait4), so it does not depend on the machine's
load the way wall time does; on a shared virtual machine it still varies from run to run (up to a quarter was
seen here), so --repeat N renders every case N times, the floor beside each, and reports the medians.
With --moviepy the plain cases are also composed with MoviePy (ImageClip +
AudioFileClip, concatenated, same codec settings), installed in benchmarks/.venv-moviepy only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "include"), str(ROOT)]

from pipeline.config import Settings  # noqa: E402
from pipeline.render.ffmpeg import VIDEO_OPTIONS  # noqa: E402
from pipeline.request import LookAndSound  # noqa: E402
from pipeline.storage import LocalStorage  # noqa: E402
from tools.render_samples import sample_render_spec  # noqa: E402

MOVIEPY_VENV = ROOT / "benchmarks" / ".venv-moviepy"
MOVIEPY_VERSION = "2.2.1"
WIDTHS = {720: 1280, 1080: 1920}
MODES = {
    "plain": LookAndSound(
        ken_burns=False, crossfade_s=0, scene_padding_s=0, burn_subtitles=False, soft_subtitles=False
    ),
    "all": LookAndSound(ken_burns=True, crossfade_s=0.5, scene_padding_s=0.3, burn_subtitles=True, soft_subtitles=True),
    # all effects, word-highlight captions, a moving clip every third scene shown whole on a blur, a logo
    "branded": LookAndSound(
        ken_burns=True,
        crossfade_s=0.5,
        scene_padding_s=0.3,
        burn_subtitles=True,
        soft_subtitles=True,
        captions="shorts",
        clip_fit="blur",
    ),
}
SENTENCES = [
    "The harbour wakes before the sun.",
    "Boats slip out past the old wall.",
    "Gulls argue over the morning catch.",
    "Traders shout their prices at noon.",
    "Children dive from the warm pier.",
    "Nets are mended in the long shade.",
]


@dataclass(frozen=True)
class Measured:
    cpu_s: float
    wall_s: float
    peak_rss_mb: float
    returncode: int


def measure(command: list[str], **kwargs: object) -> Measured:
    """Run ``command``; CPU and peak RSS of it and of every process it waited for."""
    started = time.monotonic()
    process = subprocess.Popen(command, **kwargs)  # type: ignore[call-overload]
    _, status, usage = os.wait4(process.pid, 0)
    return Measured(
        cpu_s=usage.ru_utime + usage.ru_stime,
        wall_s=time.monotonic() - started,
        peak_rss_mb=usage.ru_maxrss / 1024,
        returncode=os.waitstatus_to_exitcode(status),
    )


def median(runs: list[Measured]) -> Measured:
    """Each figure's median over the runs (the upper one of an even count)."""

    def mid(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    return Measured(
        cpu_s=mid([r.cpu_s for r in runs]),
        wall_s=mid([r.wall_s for r in runs]),
        peak_rss_mb=mid([r.peak_rss_mb for r in runs]),
        returncode=max(r.returncode for r in runs),
    )


# the render entry point with lossless video (x264 at crf 0 keeps every 8-bit sample): its frames are exact
LOSSLESS_RENDER = """
import runpy, sys
import pipeline.render.ffmpeg as render
render.VIDEO_OPTIONS.update(crf=0, preset="ultrafast")
sys.argv[0] = "pipeline.render"
runpy.run_module("pipeline.render", run_name="__main__", alter_sys=True)
"""


def floor(video: Path, width: int, height: int, fps: int) -> Measured:
    """Encode the decoded frames of ``video`` again with the render's libx264 settings; time the encoder only."""
    decoder = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-i", str(video), "-an", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
        stdout=subprocess.PIPE,
    )
    encoder = [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-s",
        f"{width}x{height}",
        "-r",
        str(fps),
        "-i",
        "-",
        "-c:v",
        VIDEO_OPTIONS["vcodec"],
        "-preset",
        str(VIDEO_OPTIONS["preset"]),
        "-crf",
        str(VIDEO_OPTIONS["crf"]),
        "-pix_fmt",
        "yuv420p",
        "-f",
        "mp4",
        "-movflags",
        "+faststart",
        str(video.with_suffix(".floor.mp4")),
    ]
    result = measure(encoder, stdin=decoder.stdout)
    assert decoder.stdout is not None
    decoder.stdout.close()
    decoder.wait()
    return result


def make_spec(storage: LocalStorage, work: Path, scenes: int, height: int, mode: str) -> Path:
    texts = [f"{SENTENCES[index % len(SENTENCES)]} Scene {index + 1}." for index in range(scenes)]
    clips = None
    if mode == "branded":  # the demo's footage (640x360, 6 s): looped or trimmed, fitted on a blur
        from pipeline.library import make_sample_footage

        (clip, _), *_ = make_sample_footage(work / "footage")
        storage.put_file("media/bench-clip.mp4", clip)
        clips = {index: "media/bench-clip.mp4" for index in range(1, scenes, 3)}
    spec = sample_render_spec(
        texts,
        storage=storage,
        work_dir=work,
        width=WIDTHS[height],
        height=height,
        look=MODES[mode],
        run_id=f"{scenes}x{height}-{mode}",
        title="Render benchmark",
        clips=clips,
    )
    if mode == "branded":
        from PIL import Image

        from pipeline.channels import store_logo
        from pipeline.models import LogoOverlay

        logo = work / "logo.png"
        Image.new("RGBA", (240, 120), (230, 20, 20, 200)).save(logo)
        spec = spec.model_copy(update={"logo": LogoOverlay(key=store_logo(storage, logo), opacity=0.85)})
    path = work / f"spec-{scenes}x{height}-{mode}.json"
    path.write_text(spec.model_dump_json())
    return path


def moviepy_python() -> Path:
    python = MOVIEPY_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MOVIEPY_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"moviepy=={MOVIEPY_VERSION}"], check=True)
    return python


MOVIEPY_SCRIPT = """
import json, sys
from moviepy import AudioFileClip, ImageClip, concatenate_audioclips, concatenate_videoclips
spec, root, out = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
audio = [AudioFileClip(f"{root}/{s['audio_key']}") for s in spec["scenes"]]
video = [ImageClip(f"{root}/{s['media_key']}").with_duration(a.duration) for s, a in zip(spec["scenes"], audio)]
clip = concatenate_videoclips(video).with_audio(concatenate_audioclips(audio))
clip.write_videofile(out, fps=30, codec="libx264", preset="veryfast", ffmpeg_params=["-crf", "21"],
                     audio_codec="aac", logger=None)
"""


def run_case(
    storage: LocalStorage, work: Path, *, scenes: int, height: int, mode: str, moviepy: bool, repeat: int = 1
) -> dict:
    from pipeline.models import RenderSpec
    from pipeline.render.timeline import plan_timeline

    spec_path = make_spec(storage, work, scenes, height, mode)
    spec = RenderSpec.model_validate_json(spec_path.read_text())
    env = {**os.environ, "VIDEO_DATA_DIR": str(storage.root.parent), "PYTHONPATH": str(ROOT / "include")}
    lossless = subprocess.run(
        [sys.executable, "-c", LOSSLESS_RENDER, "--spec", str(spec_path)],
        check=False,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    if lossless.returncode != 0:
        raise SystemExit(f"lossless render failed for {scenes}x{height} {mode}")
    output = storage.local_path(spec.output_key)
    exact_frames = output.with_suffix(".exact.mp4")  # the timed renders write to the output key again
    output.replace(exact_frames)
    runs: list[Measured] = []
    floors: list[Measured] = []
    exact: list[Measured] = []
    for _ in range(repeat):  # each render beside its own floor, so both see the same state of the machine
        runs.append(
            measure(
                [sys.executable, "-m", "pipeline.render", "--spec", str(spec_path)], env=env, stdout=subprocess.DEVNULL
            )
        )
        if runs[-1].returncode != 0:
            raise SystemExit(f"render failed for {scenes}x{height} {mode}")
        floors.append(floor(output, spec.width, spec.height, spec.fps))
        exact.append(floor(exact_frames, spec.width, spec.height, spec.fps))
    ours, bare, exact_floor = median(runs), median(floors), median(exact)
    duration = plan_timeline(spec).duration_s
    row = {
        "case": f"{scenes} scenes {height}p {mode}",
        "scenes": scenes,
        "height": height,
        "mode": mode,
        "video_s": round(duration, 2),
        "cpu_s": round(ours.cpu_s, 2),
        "wall_s": round(ours.wall_s, 2),
        "floor_cpu_s": round(bare.cpu_s, 2),
        "cpu_ratio_to_floor": round(ours.cpu_s / bare.cpu_s, 3),
        "exact_floor_cpu_s": round(exact_floor.cpu_s, 2),
        "cpu_ratio_to_exact_floor": round(ours.cpu_s / exact_floor.cpu_s, 3),
        "exact_floor_peak_rss_mb": round(exact_floor.peak_rss_mb, 1),
        "realtime_factor": round(duration / ours.wall_s, 2),
        "peak_rss_mb": round(ours.peak_rss_mb, 1),
        "floor_peak_rss_mb": round(bare.peak_rss_mb, 1),
        "runs": repeat,
    }
    if moviepy and mode == "plain":
        out = work / f"moviepy-{scenes}x{height}.mp4"
        theirs = measure([str(moviepy_python()), "-c", MOVIEPY_SCRIPT, str(spec_path), str(storage.root), str(out)])
        if theirs.returncode == 0:
            row.update(
                moviepy_cpu_s=round(theirs.cpu_s, 2),
                moviepy_wall_s=round(theirs.wall_s, 2),
                moviepy_peak_rss_mb=round(theirs.peak_rss_mb, 1),
                speedup_vs_moviepy_cpu=round(theirs.cpu_s / ours.cpu_s, 2),
                speedup_vs_moviepy_wall=round(theirs.wall_s / ours.wall_s, 2),
            )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, nargs="+", default=[10, 60])
    parser.add_argument("--heights", type=int, nargs="+", default=[720, 1080], choices=sorted(WIDTHS))
    parser.add_argument("--modes", nargs="+", default=["plain", "all"], choices=sorted(MODES))
    parser.add_argument("--moviepy", action="store_true", help="also time MoviePy on the plain cases")
    parser.add_argument("--json", action="store_true", help="one JSON object per case")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; medians are reported")
    parser.add_argument("--keep", type=Path, help="work in this folder (kept) instead of a temporary one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="render-bench-") as scratch:
        work = args.keep or Path(scratch)
        storage = LocalStorage(work / "data" / "storage")
        settings = Settings(data_dir=work / "data")
        rows = []
        for scenes in args.scenes:
            for height in args.heights:
                for mode in args.modes:
                    row = run_case(
                        storage,
                        settings.work_dir,
                        scenes=scenes,
                        height=height,
                        mode=mode,
                        moviepy=args.moviepy,
                        repeat=args.repeat,
                    )
                    rows.append(row)
                    print(json.dumps(row) if args.json else _line(row), flush=True)


def _line(row: dict) -> str:
    text = (
        f"{row['case']:<24} video {row['video_s']:>6}s  cpu {row['cpu_s']:>7}s  "
        f"floor exact {row['exact_floor_cpu_s']:>6}s / decoded {row['floor_cpu_s']:>6}s  "
        f"ratio {row['cpu_ratio_to_exact_floor']:>5} / {row['cpu_ratio_to_floor']:>5}  "
        f"x{row['realtime_factor']:>5} real time  rss {row['peak_rss_mb']} MB "
        f"(floor {row['exact_floor_peak_rss_mb']} / {row['floor_peak_rss_mb']} MB)"
    )
    if "moviepy_cpu_s" in row:
        text += f"  moviepy cpu {row['moviepy_cpu_s']}s (x{row['speedup_vs_moviepy_cpu']} faster)"
    return text


if __name__ == "__main__":
    main()
