# The render image: Debian's ffmpeg + include/pipeline + the few packages the render needs. No Airflow.
# Build from the repository root: docker build -f docker/render.Dockerfile -t video-factory-render .
FROM debian:bookworm-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg fonts-dejavu-core fonts-noto-core fonts-noto-cjk fonts-symbola python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

COPY requirements-render.txt /tmp/requirements-render.txt
RUN python3 -m venv /opt/render \
    && /opt/render/bin/pip install --no-cache-dir -r /tmp/requirements-render.txt \
    && rm /tmp/requirements-render.txt

COPY include/pipeline /opt/app/pipeline
# compiled once here: with PYTHONDONTWRITEBYTECODE every render would compile the pipeline's modules again
RUN python3 -m compileall -q /opt/app/pipeline
ENV PATH=/opt/render/bin:$PATH \
    PYTHONPATH=/opt/app \
    PYTHONDONTWRITEBYTECODE=1 \
    VIDEO_DATA_DIR=/tmp/video-factory

# The same uid as RENDER_USER in plugins/video_factory/render_pod.py; the pod also enforces runAsNonRoot.
RUN useradd --uid 10001 --user-group --create-home render
USER 10001
WORKDIR /home/render
ENTRYPOINT ["python", "-m", "pipeline.render"]
