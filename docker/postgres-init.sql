-- The project's own database beside Airflow's (docker-compose.yaml); the airflow role owns both.
-- Runs once, when the postgres volume is first initialised. Its schema comes from `python -m pipeline.db upgrade`
-- in airflow-init.
CREATE DATABASE video_factory;
