"""Re-wrap a service's data keys under its newest KEK: `python -m runtime.rekey`.

After putting a new secret first in SAMENWIJK_DATA_KEY_KEK (comma-separated, newest first)
and restarting the service, this rewrites every row of `data_keys` under the new secret,
so the old one can be dropped. Without --yes it only counts the keys (a dry run).

    SAMENWIJK_SERVICE_NAME=intake SAMENWIJK_DATABASE_URL=postgresql://…/intake python -m runtime.rekey --yes
"""

import argparse
import asyncio
import sys

import asyncpg

from runtime.sealing import KeyStore
from runtime.settings import ServiceSettings


async def rekey(settings: ServiceSettings, write: bool) -> int:
    keys = KeyStore(settings.service_name, settings.data_key_kek)
    conn = await asyncpg.connect(settings.database_url)
    try:
        if not write:
            return await conn.fetchval("SELECT count(*) FROM data_keys")
        async with conn.transaction():
            return await keys.rotate(conn)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--yes", action="store_true", help="re-wrap (without it: count only)")
    args = parser.parse_args(argv)
    settings = ServiceSettings()
    count = asyncio.run(rekey(settings, args.yes))
    print(f"{settings.service_name}: {count} data keys {'re-wrapped under the newest KEK' if args.yes else 'to re-wrap'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
