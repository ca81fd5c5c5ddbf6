# The Airflow image of every component in docker-compose.yaml (API server, scheduler, dag-processor, triggerer,
# Celery workers): the official image, the system tools the pipeline calls, the project's pinned requirements,
# NLTK's data, and dags/, plugins/, include/. Build from the repository root:
#   docker build -f docker/airflow.Dockerfile -t video-factory-airflow .
# (docker compose builds it itself). The render pod's image stays docker/render.Dockerfile.
FROM apache/airflow:3.3.2-python3.11

USER root
# ffmpeg/ffprobe (the render), espeak-ng (the offline voice), fonts for every script the subtitles draw
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg espeak-ng fonts-dejavu-core fonts-noto-core fonts-noto-cjk \
       fonts-symbola \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

USER airflow
# Airflow's own constraints (what the base image was built with) and ours (every version the tests ran with).
# Ours win where both pin a package: pip refuses conflicting pins, so AIRFLOW_CONSTRAINTS is empty by default;
# set it (a constraints-3.3.2/constraints-3.11.txt URL) to check that no package moves away from Airflow's.
ARG AIRFLOW_CONSTRAINTS=""
COPY --chown=airflow:0 requirements.txt constraints.txt pyproject.toml README.md /opt/video-factory/
COPY --chown=airflow:0 include /opt/video-factory/include
RUN pip install --no-cache-dir -r /opt/video-factory/requirements.txt -c /opt/video-factory/constraints.txt \
       ${AIRFLOW_CONSTRAINTS:+-c "$AIRFLOW_CONSTRAINTS"} \
    && pip install --no-cache-dir --no-deps /opt/video-factory

# NLTK's sentence splitter, stopwords and POS tagger, in the image (workers never download at run time)
ENV NLTK_DATA=/opt/airflow/nltk_data
RUN python -m nltk.downloader -d "$NLTK_DATA" punkt_tab stopwords averaged_perceptron_tagger_eng

COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
# compiled once here: every task process runs its DAG file again (tools/supervise.py, compile_sources)
RUN python -m compileall -q /opt/airflow/dags /opt/airflow/plugins
ENV PYTHONPATH=/opt/airflow/plugins \
    VIDEO_DATA_DIR=/opt/airflow/data
