"""`kibo-emulator`: run the local OMS emulator."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys

from target_kibo_inventory.emulator.server import Emulator


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="kibo-emulator",
        description="Local emulator of Kibo OMS inventory refresh/adjust endpoints.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8700, help="port (default: %(default)s)")
    parser.add_argument("--tenant", default="demo", help="accepted x-vol-tenant")
    parser.add_argument("--api-key", default="demo-key", help="accepted API key / client ID")
    parser.add_argument(
        "--api-secret", default=None, help="client secret accepted by the token endpoints"
    )
    parser.add_argument(
        "--db", default=":memory:", help="SQLite file of the inventory (default: in memory)"
    )
    parser.add_argument(
        "--token-ttl", type=float, default=3600.0, help="lifetime of issued tokens in seconds"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s kibo-emulator %(message)s",
        stream=sys.stderr,
    )
    emulator = Emulator(args.tenant, args.api_key, args.api_secret, args.db, args.token_ttl)
    logging.getLogger("kibo-emulator").info(
        "serving on http://%s:%d (tenant %s)", args.host, args.port, args.tenant
    )
    with contextlib.suppress(KeyboardInterrupt):
        emulator.serve_forever(args.host, args.port)


if __name__ == "__main__":
    main()
