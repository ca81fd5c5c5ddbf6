"""The Videos page's list with 10,000 projects: how long each query of a page takes (run by hand).

    .venv/bin/python benchmarks/videos_list_bench.py [--projects 10000] [--server postgresql+psycopg2://...]

It creates a scratch database on the server (default: 127.0.0.1:5432, else ``VIDEO_DEMO_PG_URL``), migrates it,
fills it with SQL (``generate_series``): N requests and projects, 6 scenes each with an image and a narration, a
render per completed project, 12 ledger lines per project, a tenth of them in one of 20 batches; then times
``list_videos`` (the whole page: rows, total and costs) for the first page, a deep page, each filter and a title
search, and ``video_detail``, each the median of 20 runs after a warm-up; and drops the database.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "include"), str(ROOT)]

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from interface.catalog import VideoFilter, list_videos, video_detail  # noqa: E402
from pipeline.config import Settings  # noqa: E402
from pipeline.db import connect, upgrade  # noqa: E402
from tools.stack import drop_database, ensure_database  # noqa: E402

FILL = """
INSERT INTO video.requests (request_key, title, voice, aspect, resolution, status, created_at, batch_run_id)
SELECT 'bench-' || n, 'Bench film ' || n || CASE WHEN n % 97 = 0 THEN ' harbour' ELSE '' END, 'en-us', '16:9', 720,
       CASE WHEN n % 10 = 0 THEN 'failed' WHEN n % 50 = 1 THEN 'running' ELSE 'completed' END,
       now() - (n || ' minutes')::interval, CASE WHEN n % 10 = 3 THEN 'night-' || (n % 20) END
FROM generate_series(1, :n) AS n;
INSERT INTO video.projects (request_id, title, status, error, failed_task, dag_run_id, created_at, completed_at)
SELECT r.id, r.title, CASE r.status WHEN 'running' THEN 'processing' ELSE r.status END,
       CASE WHEN r.status = 'failed' THEN 'ffmpeg failed' END, CASE WHEN r.status = 'failed' THEN 'render' END,
       'video__' || r.request_key, r.created_at,
       CASE WHEN r.status = 'completed' THEN r.created_at + interval '90 seconds' END
FROM video.requests r WHERE r.request_key LIKE 'bench-%';
INSERT INTO video.scenes (project_id, scene_index, text, keywords, visual_prompt)
SELECT p.id, i, 'Scene text ' || i, '["harbour", "boats"]', 'prompt' FROM video.projects p, generate_series(0, 5) i;
INSERT INTO video.media_assets (scene_id, content_hash, storage_key, kind, provider, width, height)
SELECT s.id, md5(s.id::text), 'media/' || md5(s.id::text) || '.png', 'image', 'stability', 1280, 720
FROM video.scenes s;
INSERT INTO video.audio_assets (scene_id, content_hash, storage_key, provider, voice, duration_s, word_timings,
                                timings_estimated)
SELECT s.id, md5('a' || s.id), 'audio/' || md5('a' || s.id) || '.mp3', 'polly', 'Joanna', 4.2, '[]', false
FROM video.scenes s;
INSERT INTO video.rendered_videos (project_id, dag_run_id, video_key, subtitles_key, thumbnail_key, video_url,
                                   duration_s, width, height, size_bytes, published)
SELECT p.id, p.dag_run_id, 'videos/' || p.id || '.mp4', 'videos/' || p.id || '.srt', 'videos/' || p.id || '.jpg',
       'file:///x', 25.2, 1280, 720, 4000000, true
FROM video.projects p WHERE p.status = 'completed';
INSERT INTO video.provider_calls (project_id, scene_index, dag_run_id, provider, model, operation, content_hash,
                                  units, unit_kind, cached, duration_ms, outcome)
SELECT p.id, i % 6, p.dag_run_id, CASE WHEN i < 6 THEN 'stability' ELSE 'polly' END,
       CASE WHEN i < 6 THEN 'core' ELSE 'neural/Joanna' END, CASE WHEN i < 6 THEN 'image' ELSE 'speech' END,
       md5(p.id || '-' || i), CASE WHEN i < 6 THEN 3 ELSE 60 END,
       CASE WHEN i < 6 THEN 'credits' ELSE 'characters' END, false, 900, 'ok'
FROM video.projects p, generate_series(0, 11) i;
ANALYZE;
"""


def timed(fn: Any, runs: int = 20) -> float:
    fn()  # warm-up: connections, plans
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--server", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    server = make_url(args.server)
    name = f"videos_bench_{secrets.token_hex(3)}"
    url = ensure_database(server, name)
    try:
        upgrade(url.render_as_string(hide_password=False))
        engine = connect(url)
        started = time.perf_counter()
        with engine.begin() as conn:
            for statement in FILL.split(";\n"):
                if statement.strip():
                    conn.execute(text(statement), {"n": args.projects})
        fill_s = time.perf_counter() - started
        settings = Settings()
        last_page = (args.projects + 24) // 25
        cases = {
            "first page (25, newest)": lambda: list_videos(engine, settings, VideoFilter()),
            "page 200 of 400": lambda: list_videos(engine, settings, VideoFilter(), page=min(200, last_page)),
            "last page": lambda: list_videos(engine, settings, VideoFilter(), page=last_page),
            "status = failed": lambda: list_videos(engine, settings, VideoFilter(status="failed")),
            "title search 'harbour'": lambda: list_videos(engine, settings, VideoFilter(search="harbour")),
            "batch night-3": lambda: list_videos(engine, settings, VideoFilter(batch="night-3")),
            "last 24 hours": lambda: list_videos(
                engine, settings, VideoFilter(since=datetime.now(UTC).replace(hour=0, minute=0))
            ),
            "100 per page": lambda: list_videos(engine, settings, VideoFilter(), per_page=100),
            "one video in full": lambda: video_detail(engine, settings, "bench-5000"),
        }
        results = {label: round(timed(fn), 1) for label, fn in cases.items()}
        engine.dispose()
    finally:
        drop_database(server, name)
    print(f"{args.projects} projects, filled in {fill_s:.1f} s; median of 20 (ms):")
    for label, ms in results.items():
        print(f"  {label:28} {ms:7.1f}")
    row = {"projects": args.projects, "median_ms": results, "date": datetime.now(UTC).isoformat(timespec="seconds")}
    with (ROOT / "benchmarks" / f"results-videos-list-{datetime.now(UTC):%Y-%m-%d}.jsonl").open("a") as log:
        log.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
