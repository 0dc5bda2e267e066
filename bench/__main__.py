"""Benchmarks, run by hand (never in CI): ``python -m bench [NAME|all]``.

NAME is reservations, availability, members, flash_sale, pos_sale, attribution, outbox, dashboard, marketing
or audit; ``load`` (the HTTP load test, ``bench/load.py``, default database ``omo_bench_load``) runs only
when named.

Each prints a table and the numbers it compares, measured in the same run one after the other,
because absolute times on shared machines drift. It works in its own PostgreSQL database
(``BENCH_DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/omo_bench``), which it drops
and re-creates (``BENCH_KEEP_DATABASE=1`` keeps an existing one: the dashboard bench then reuses its data).
"""

from __future__ import annotations

import argparse
import os
import sys
from urllib.parse import urlsplit


def prepare_database() -> str:
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/omo_bench")
    name = urlsplit(url).path.lstrip("/")
    import psycopg2

    admin = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        exists = cursor.fetchone() is not None
        # BENCH_KEEP_DATABASE=1: keep the database of an earlier run (the dashboard bench then skips its
        # data set-up and measures again; migrations still run)
        if not (exists and os.environ.get("BENCH_KEEP_DATABASE")):
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omo.settings")
    # Production settings: with DEBUG on, Django records every query and the numbers mean less.
    import secrets

    os.environ.update(
        {"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "bench", "LOG_LEVEL": "WARNING"}
    )
    os.environ["DB_CONN_MAX_AGE"] = "0"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "which",
        choices=[
            "reservations",
            "availability",
            "members",
            "flash_sale",
            "pos_sale",
            "attribution",
            "outbox",
            "dashboard",
            "marketing",
            "audit",
            "load",
            "all",
        ],
        nargs="?",
        default="all",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="Length of each throughput run (8 s; flash_sale 15 s; pos_sale 20 s).",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="flash_sale, pos_sale: gunicorn worker processes (flash_sale 4; pos_sale one per CPU core).",
    )
    parser.add_argument(
        "--think", type=float, default=0.0, help="pos_sale: seconds a clerk takes between two requests (0: none)."
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="flash_sale, pos_sale: threads per worker (1: sync workers)."
    )
    args = parser.parse_args()
    if args.which == "load":  # not part of "all": it needs a quiet machine and runs for minutes
        # locust runs in this process on gevent, which must patch the standard library before anything
        # (psycopg2, Django, redis) opens a socket or a thread
        from gevent import monkey

        monkey.patch_all()
        os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/omo_bench_load")
        os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
    if args.which in ("outbox", "all"):  # the bench process sends tasks through Redis, not eagerly
        os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
    url = prepare_database()
    if args.which == "load":
        from bench import load

        return load.run(url)  # settings from BENCH_LOAD_* (see bench/load.py)
    if args.which in ("reservations", "all"):
        from bench import reservations

        reservations.run(url, seconds=args.seconds or 8.0)
    if args.which in ("availability", "all"):
        from bench import availability

        availability.run()
    if args.which in ("members", "all"):
        from bench import members

        members.run(url, seconds=args.seconds or 8.0)
    if args.which in ("flash_sale", "all"):
        from bench import flash_sale

        flash_sale.run(url, seconds=args.seconds or 15.0, workers=args.workers or 4, threads=args.threads)
    if args.which in ("pos_sale", "all"):
        from bench import pos_sale

        # one sync worker per core: a counter sale is CPU-bound Python, and more workers than cores only
        # share the cores (each request then takes longer, and no more sales get done)
        workers = args.workers or os.cpu_count() or 2
        pos_sale.run(url, seconds=args.seconds or 20.0, workers=workers, threads=args.threads, think=args.think)
    if args.which in ("attribution", "all"):
        from bench import attribution

        attribution.run()
    if args.which in ("outbox", "all"):
        from bench import outbox

        outbox.run(url, seconds=args.seconds or outbox.STEADY_SECONDS)
    if args.which in ("dashboard", "all"):
        from bench import dashboard

        # BENCH_DASHBOARD_ORDERS / _MEMBERS / _RUNS make it smaller while developing
        dashboard.run()
    if args.which in ("marketing", "all"):
        from bench import marketing

        marketing.run()  # BENCH_MARKETING_MEMBERS makes it smaller while developing
    if args.which in ("audit", "all"):
        from bench import audit

        audit.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
