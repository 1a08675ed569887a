"""A PostgreSQL server for tests and benchmarks (deploy/postgres/pg.sh on a spare port), and fresh databases
on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.harness.secure_broker import spare_ports

PG_SH = Path(__file__).resolve().parent.parent.parent / "deploy" / "postgres" / "pg.sh"


class PostgresNotStartedError(RuntimeError):
    """pg.sh up failed; the message carries what it said."""


@contextmanager
def started_postgres() -> Iterator[str]:
    """Start PostgreSQL with deploy/postgres/pg.sh on a spare port; yields its URL; stops it after."""
    (port,) = spare_ports(1)
    base = tempfile.mkdtemp(prefix="platewatch-pg-")  # under /tmp: the postgres user must reach it
    env = dict(os.environ, PG_PORT=str(port), PLATEWATCH_PG_DIR=base)
    started = subprocess.run([str(PG_SH), "up"], env=env, capture_output=True, text=True, check=False)
    try:
        if started.returncode != 0:
            raise PostgresNotStartedError(started.stderr)
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(PG_SH), "down"], env=env, capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def fresh_database(server_url: str, prefix: str = "audit") -> Iterator[str]:
    """A database of its own on the server (as its superuser); dropped after."""
    import psycopg  # noqa: PLC0415 (only PostgreSQL users load it, and the conftest imports this module)
    from sqlalchemy import make_url  # noqa: PLC0415

    server = make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
