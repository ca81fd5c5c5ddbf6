"""``python -m pipeline.db upgrade URL``: bring the project's schema up to date."""

from __future__ import annotations

import argparse

from pipeline.db.migrate import upgrade


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.db", description=__doc__)
    parser.add_argument("command", choices=["upgrade"])
    parser.add_argument("url", help="SQLAlchemy URL of the project's database")
    parser.add_argument("--revision", default="head")
    args = parser.parse_args()
    upgrade(args.url, args.revision)
    print(f"schema is at {args.revision}")


if __name__ == "__main__":
    main()
