"""asyncpg pool and per-service migrations.

Migrations are plain SQL files applied with yoyo-migrations (it records what ran and
takes a lock, so several instances starting at once do not race). Each database gets the
runtime's tables first, then the service's own.
"""

import asyncio
import json
from pathlib import Path

import asyncpg
from yoyo import get_backend, read_migrations

RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"


def _yoyo_url(database_url: str) -> str:
    # yoyo is synchronous and speaks psycopg 3.
    return database_url.replace("postgresql://", "postgresql+psycopg://", 1)


def _apply(database_url: str, service_migrations: Path) -> None:
    backend = get_backend(_yoyo_url(database_url))
    try:
        migrations = read_migrations(str(RUNTIME_MIGRATIONS), str(service_migrations))
        with backend.lock():
            backend.apply_migrations(backend.to_apply(migrations))
    finally:
        backend.connection.close()


async def migrate(database_url: str, service_migrations: Path) -> None:
    await asyncio.to_thread(_apply, database_url, service_migrations)


async def init_connection(conn: asyncpg.Connection) -> None:
    for name in ("jsonb", "json"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(database_url: str, size: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        database_url, min_size=min(2, size), max_size=size, init=init_connection
    )
