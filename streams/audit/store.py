"""The audit store: an engine from a URL, its migrations, idempotent batched inserts, the access log, prune.

SQLite (`sqlite:///FILE`, the zero-set-up default) or PostgreSQL (`postgresql+psycopg://...`), through
SQLAlchemy 2 Core. The schema is `streams.audit.schema`; Alembic migrations in
`streams/audit/migrations` (shipped in the package) create and evolve it, run by `migrate` as the
store's owner. On PostgreSQL they also create `platewatch_audit_sink`, a role that may SELECT and
INSERT but never UPDATE or DELETE: the sink runs as a login member of it.

Inserts are idempotent: every table has a natural key (audit_id; topic/partition/offset; access_id;
...) and rows go in with the dialect's `INSERT ... ON CONFLICT DO NOTHING`, so a replayed, restarted
or duplicated stream stores each fact once. A batch of rows for every table is written in one
transaction (`AuditStore.write`), as one `executemany` per table. The statement is Core's, compiled
once per table and dialect; it runs on the transaction's DBAPI cursor because that is where the
number of rows actually inserted is told (SQLAlchemy reports -1 for a psycopg executemany), and the
sink's metrics count stored rows apart from duplicates.

SQLite runs in WAL mode with `synchronous=FULL`: a commit the sink has seen is on disk before it
commits its Kafka offsets, power loss included. Readers (the report) do not block the sink.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Table, create_engine, delete, event, func, inspect, make_url, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from streams.audit import schema
from streams.audit.records import Rows, UnreadableError, access_record, access_row
from streams.errors import AccessDeniedError, ConfigurationError, PlatewatchError, StoreUnavailableError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SINK_ROLE = "platewatch_audit_sink"  # created by the first migration on PostgreSQL
RETENTION_FLOOR_DAYS = 365  # FBI CJIS Security Policy: audit records of NCIC data are kept at least a year
DAY_MS = 24 * 3600 * 1000
# every table with a time, and the column prune compares (policy_versions is a handful of rows: kept)
TIMED_TABLES: tuple[tuple[Table, str], ...] = (
    (schema.decisions, "time_ms"),
    (schema.deliveries, "time_ms"),
    (schema.batch_counts, "time_ms"),
    (schema.access_log, "time_ms"),
    (schema.unreadable_records, "time_ms"),
)


def display_url(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an unparsable URL)"


def engine_for(url: str) -> Engine:
    """An engine for `url`: SQLite in WAL mode with full fsync and a busy timeout, or PostgreSQL over
    psycopg 3 (a bare `postgresql://` URL is taken as `postgresql+psycopg://`)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(f"audit_db_url {display_url(url)} is not a database URL") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database).parent.is_dir():
            raise ConfigurationError(f"audit_db_url {url}: the folder {Path(database).parent} does not exist")
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, pool_size=2, max_overflow=2)
    raise ConfigurationError(f"audit_db_url {display_url(url)}: only sqlite and postgresql+psycopg are supported")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


@contextmanager
def reaching(engine: Engine, doing: str) -> Iterator[None]:
    """Database errors as Platewatch errors: unreachable (exit 3), refused to this role (exit 5)."""
    try:
        yield
    except PlatewatchError:
        raise
    except DBAPIError as exc:
        raise store_error(engine, doing, exc) from None


def store_error(engine: Engine, doing: str, exc: DBAPIError) -> PlatewatchError:
    where = display_url(engine.url.render_as_string(hide_password=False))
    detail = " ".join(str(exc.orig).split())[:300]
    if _insufficient_privilege(exc):
        return AccessDeniedError(
            f"the audit store {where} refused to {doing}: {detail}",
            hint=f"run it as the store's owner (the sink's role {SINK_ROLE} may only insert and select)",
        )
    if isinstance(exc, OperationalError):
        return StoreUnavailableError(f"the audit store {where} is unreachable ({doing}): {detail}")
    return StoreUnavailableError(f"the audit store {where} failed to {doing}: {detail}")


def _insufficient_privilege(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "42501" or "permission denied" in str(exc.orig).lower()


# -- migrations -----------------------------------------------------------------------------------


def _alembic(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None, "no migration in streams/audit/migrations/versions"
    return head


def current_revision(engine: Engine) -> str | None:
    """The store's schema revision; None for an empty store."""
    with reaching(engine, "read its schema revision"), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the store to `revision` (default: the newest); returns (before, after). Run as the owner."""
    before = current_revision(engine)
    with reaching(engine, "migrate its schema"), engine.connect() as conn:
        command.upgrade(_alembic(conn), revision)
        conn.commit()
    return before, current_revision(engine)


def ensure_current(engine: Engine, *, migrate_sqlite: bool = True) -> None:
    """The store's schema is the one this code writes: a SQLite file is migrated on the spot (the file's
    owner runs the sink); a PostgreSQL store behind the code is refused with what to do."""
    now, head = current_revision(engine), head_revision()
    if now == head:
        return
    if migrate_sqlite and engine.dialect.name == "sqlite":
        migrate(engine)
        log.info("audit store %s migrated from %s to %s", display_url(str(engine.url)), now or "empty", head)
        return
    raise ConfigurationError(
        f"the audit store {display_url(str(engine.url))} is at schema revision {now or 'none (empty)'}, "
        f"this Platewatch writes {head}",
        hint="run `platewatch audit migrate` as the store's owner",
    )


# -- idempotent inserts -----------------------------------------------------------------------------


class IdempotentInsert:
    """`INSERT ... ON CONFLICT DO NOTHING` of one table for one dialect, compiled once, run as executemany.

    Missing values take the column's default; values go through the column type's bind processor
    (e.g. SQLite's datetime text), so rows read back exactly as a plain Core insert would store them.
    """

    def __init__(self, table: Table, dialect: Dialect) -> None:
        if dialect.name == "postgresql":
            stmt: Any = postgresql.insert(table).on_conflict_do_nothing()
        elif dialect.name == "sqlite":
            stmt = sqlite.insert(table).on_conflict_do_nothing()
        else:
            raise ConfigurationError(f"the audit store does not support {dialect.name}")
        compiled = stmt.compile(dialect=dialect)
        self.table = table
        self.sql = str(compiled)
        self.positions: Sequence[str] | None = compiled.positiontup  # qmark (SQLite); None: named (psycopg)
        self.columns = [c.key for c in table.columns]
        self.defaults = {
            c.key: c.default.arg for c in table.columns if isinstance(c.default, ScalarElementColumnDefault)
        }
        processors = {c.key: c.type.dialect_impl(dialect).bind_processor(dialect) for c in table.columns}
        self.processors: dict[str, Callable[[Any], Any]] = {k: p for k, p in processors.items() if p is not None}

    def parameters(self, rows: Sequence[dict[str, Any]]) -> list[Any]:
        defaults, processors = self.defaults, self.processors
        out: list[Any] = []
        for row in rows:
            values = {**defaults, **row} if defaults else dict(row)
            for name, process in processors.items():
                values[name] = process(values[name])
            out.append(tuple(values[k] for k in self.positions) if self.positions is not None else values)
        return out

    def run(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
        """Insert `rows` in the connection's transaction; returns how many were new."""
        if not rows:
            return 0
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(self.sql, self.parameters(rows))
            stored: int = cursor.rowcount
        finally:
            cursor.close()
        return stored


@dataclass(frozen=True)
class Written:
    """What one `write` did, per table: rows newly stored, and rows already there (replays)."""

    stored: dict[str, int]
    duplicates: dict[str, int]

    @property
    def total_stored(self) -> int:
        return sum(self.stored.values())


class AuditStore:
    """The audit store behind an engine; `AuditStore.open(url)` builds the engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._inserts: dict[str, IdempotentInsert] = {}

    @classmethod
    def open(cls, url: str) -> AuditStore:
        return cls(engine_for(url))

    def close(self) -> None:
        self.engine.dispose()

    def inserter(self, table: Table) -> IdempotentInsert:
        found = self._inserts.get(table.name)
        if found is None:
            found = self._inserts[table.name] = IdempotentInsert(table, self.engine.dialect)
        return found

    def insert(self, table: Table, rows: Sequence[dict[str, Any]], conn: Connection | None = None) -> int:
        """Insert `rows` into `table` idempotently (in `conn`'s transaction, else one of its own)."""
        if conn is not None:
            return self.inserter(table).run(conn, rows)
        with reaching(self.engine, f"insert into {table.name}"), self.engine.begin() as own:
            return self.inserter(table).run(own, rows)

    def write(self, rows: Rows) -> Written:
        """Every table's rows of one batch in one transaction: all stored, or (on an error) none."""
        stored: dict[str, int] = {}
        duplicates: dict[str, int] = {}
        with self.engine.begin() as conn:
            for table, table_rows in rows.by_table():
                if table_rows:
                    n = self.inserter(table).run(conn, table_rows)
                    stored[table.name] = n
                    duplicates[table.name] = len(table_rows) - n
        return Written(stored, duplicates)

    def count(self, table: Table) -> int:
        with reaching(self.engine, f"count {table.name}"), self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def record_access(self, **fields: Any) -> str:
        """`record_access` in a transaction of its own; returns the access id."""
        with reaching(self.engine, "record an access"), self.engine.begin() as conn:
            return record_access(conn, **fields)

    def prune(self, before: dt.datetime, *, retention_days: int, now: dt.datetime, dry_run: bool = False) -> Pruned:
        """Delete rows older than `before`, which must keep at least `retention_days` (at least 365).
        Run as the owner: the sink's role may not delete."""
        before_ms, limit_ms = prune_limit(before, retention_days=retention_days, now=now)
        removed: dict[str, int] = {}
        with reaching(self.engine, "delete old rows (audit prune)"), self.engine.begin() as conn:
            for table, column in TIMED_TABLES:
                older = table.c[column] < before_ms
                if dry_run:
                    removed[table.name] = int(conn.execute(select(func.count()).where(older)).scalar_one())
                else:
                    removed[table.name] = int(conn.execute(delete(table).where(older)).rowcount)
        return Pruned(before_ms, limit_ms, removed, dry_run)

    def tables(self) -> list[str]:
        with reaching(self.engine, "list its tables"), self.engine.connect() as conn:
            return sorted(inspect(conn).get_table_names())


@dataclass(frozen=True)
class Pruned:
    before_ms: int
    latest_allowed_ms: int
    removed: dict[str, int]
    dry_run: bool


def prune_limit(before: dt.datetime, *, retention_days: int, now: dt.datetime) -> tuple[int, int]:
    """(before, the latest `before` the retention allows) in epoch ms; refuses a `before` that would keep
    less than `retention_days`, or a retention under the floor."""
    if retention_days < RETENTION_FLOOR_DAYS:
        raise ConfigurationError(
            f"audit_retention_days {retention_days} is under {RETENTION_FLOOR_DAYS}: audit records of NCIC "
            "data are kept at least a year (FBI CJIS Security Policy)"
        )
    when = before if before.tzinfo else before.replace(tzinfo=dt.UTC)
    before_ms = int(when.timestamp() * 1000)
    limit_ms = int(now.timestamp() * 1000) - retention_days * DAY_MS
    if before_ms > limit_ms:
        latest = dt.datetime.fromtimestamp(limit_ms / 1000, dt.UTC).date().isoformat()
        kept = (int(now.timestamp() * 1000) - before_ms) // DAY_MS
        raise ConfigurationError(
            f"--before {when.date().isoformat()} would keep {max(kept, 0)} days of audit records; the retention "
            f"is {retention_days} days (audit_retention_days, at least {RETENTION_FLOOR_DAYS})",
            hint=f"give --before {latest} or earlier",
        )
    return before_ms, limit_ms


def record_access(
    conn: Connection,
    *,
    user: str,
    organization: str,
    purpose: str,
    command: str,
    accessed: str,
    records: int,
    time_ms: int | None = None,
    access_id: str | None = None,
) -> str:
    """Write one `access_log` row in `conn`'s transaction (the query's own, so there is no query result
    without its record); returns the access id. Refuses an access without a user or a purpose."""
    missing = [name for name, value in (("user", user), ("purpose", purpose)) if not value.strip()]
    if missing:
        raise ConfigurationError(
            f"an access to retained ALPR data needs {' and '.join(missing)}",
            hint="give --user and --purpose (or PLATEWATCH_ACCESS_USER, PLATEWATCH_ACCESS_PURPOSE)",
        )
    doc = access_record(
        user=user,
        organization=organization,
        purpose=purpose,
        command=command,
        accessed=accessed,
        records=records,
        time_ms=time_ms,
        access_id=access_id,
    )
    try:
        row = access_row(orjson.dumps(doc))  # the checks a record on the access-log topic passes
    except UnreadableError as exc:
        raise ConfigurationError(f"the access record cannot be stored: {exc}") from None
    IdempotentInsert(schema.access_log, conn.dialect).run(conn, [row])
    return str(row["access_id"])
