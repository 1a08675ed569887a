"""Alembic's environment for the audit store: migrations run on the connection `store.migrate` passes in.

There is no alembic.ini: `platewatch audit migrate` (or `streams.audit.store.migrate`) builds the
configuration and hands over a connection of the owner. A developer writing a revision can run Alembic
with `-x url=sqlite:///dev.db` and `--autogenerate` against `streams.audit.schema.metadata`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from streams.audit.schema import metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters a table by copying it
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the store: alembic -x url=sqlite:///FILE ... (or use `platewatch audit migrate`)")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            run(conn)
            conn.commit()
    finally:
        engine.dispose()


main()
