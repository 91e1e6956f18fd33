"""`kibo-emulator`: run the local OMS emulator."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys

from target_kibo_inventory.emulator import show
from target_kibo_inventory.emulator.faults import Faults
from target_kibo_inventory.emulator.increff import IncreffAccount
from target_kibo_inventory.emulator.server import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_TENANT,
    Emulator,
    Options,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kibo-emulator",
        description="Local emulator of Kibo's inventory refresh/adjust endpoints (translated and "
        "native Unified Commerce), Kibo's job queue, and Increff's absolute inventory update.",
        epilog="Views of a running emulator: `kibo-emulator stock [--url URL] [--location L]` "
        "(the stock, a table per location) and `kibo-emulator requests [--url URL]` (the "
        "request log).",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8700, help="port (default: %(default)s)")
    parser.add_argument(
        "--tenant", default=DEMO_TENANT, help="accepted x-vol-tenant (default: %(default)s)"
    )
    parser.add_argument(
        "--api-key",
        default=DEMO_API_KEY,
        help="Application (Client) ID accepted by the token endpoints (default: %(default)s)",
    )
    parser.add_argument(
        "--api-secret",
        default=DEMO_API_SECRET,
        help="Client Secret accepted by the token endpoints (default: %(default)s)",
    )
    parser.add_argument(
        "--site", default=None, help="x-vol-site every Kibo API requires (default: none)"
    )
    parser.add_argument(
        "--accept-api-key-as-bearer",
        action="store_true",
        help="also accept the API key itself as the bearer token on the translated endpoints "
        "(no Kibo document describes it; by default only OAuth 2.0 access tokens)",
    )
    parser.add_argument(
        "--translated-job-queue",
        action="store_true",
        help="also serve the job queue at /inv/api/v1/queue and /api/v1/queue, the legacy OMS "
        "host's paths (no Kibo document places them on the translation host; by default only "
        "the native API's /api/commerce/inventory/v1/queue)",
    )
    parser.add_argument(
        "--db",
        default=":memory:",
        help="SQLite file of the inventory and jobs (default: in memory)",
    )
    parser.add_argument(
        "--token-ttl", type=float, default=3600.0, help="lifetime of issued tokens in seconds"
    )
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=0.0,
        help="simulated processing time of a job per started 3000-item step, while it is WORKING "
        "(default: 0)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    increff = parser.add_argument_group("Increff OMS (the three auth headers)")
    defaults = IncreffAccount()
    increff.add_argument(
        "--increff-username", default=defaults.username, help="authUsername (default: %(default)s)"
    )
    increff.add_argument(
        "--increff-password", default=defaults.password, help="authPassword (default: %(default)s)"
    )
    increff.add_argument(
        "--increff-domain", default=defaults.domain, help="authDomainName (default: %(default)s)"
    )
    increff.add_argument(
        "--increff-example-answers",
        action="store_true",
        help='name SKUs in answers as the guide\'s example does (ITEM302 sent, "302" answered) '
        "instead of as sent",
    )
    faults = parser.add_argument_group("fault injection (seeded, reproducible; rates 0..1)")
    faults.add_argument("--fault-seed", type=int, default=0, help="seed of the fault sequence")
    faults.add_argument("--error-rate", type=float, default=0.0, help="500/502/503/504 answers")
    faults.add_argument("--rate-limit-rate", type=float, default=0.0, help="429 answers")
    faults.add_argument("--retry-after", type=float, default=1.0, help="Retry-After of a 429")
    faults.add_argument(
        "--drop-before-rate", type=float, default=0.0, help="connections closed before any answer"
    )
    faults.add_argument(
        "--drop-after-rate",
        type=float,
        default=0.0,
        help="connections closed after the request was accepted (applied, never answered)",
    )
    faults.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    faults.add_argument(
        "--fail-sku-prefix",
        default=None,
        help="Kibo jobs with an item partNumber/upc/sku starting so end FAILED (nothing applied)",
    )
    faults.add_argument(
        "--increff-reject-sku-prefix",
        default=None,
        help="Increff SKUs starting so are answered as failures and not applied",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted; or print a view (`stock`, ...)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in show.COMMANDS:
        sys.exit(show.main(argv))
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s kibo-emulator %(message)s",
        stream=sys.stderr,
    )
    fault_settings = Faults(
        seed=args.fault_seed,
        error_rate=args.error_rate,
        rate_limit_rate=args.rate_limit_rate,
        retry_after=args.retry_after,
        drop_before_rate=args.drop_before_rate,
        drop_after_rate=args.drop_after_rate,
        latency=args.latency,
        step_seconds=args.step_seconds,
        fail_sku_prefix=args.fail_sku_prefix,
        increff_reject_sku_prefix=args.increff_reject_sku_prefix,
    )
    account = IncreffAccount(args.increff_username, args.increff_password, args.increff_domain)
    emulator = Emulator(
        args.tenant,
        args.api_key,
        args.api_secret,
        args.db,
        args.token_ttl,
        fault_settings,
        increff=account,
        options=Options(
            site=args.site,
            accept_api_key=args.accept_api_key_as_bearer,
            translated_queue=args.translated_job_queue,
            increff_example_answers=args.increff_example_answers,
        ),
    )
    logging.getLogger("kibo-emulator").info(
        "serving on http://%s:%d (tenant %s)", args.host, args.port, args.tenant
    )
    with contextlib.suppress(KeyboardInterrupt):
        emulator.serve_forever(args.host, args.port)


if __name__ == "__main__":
    main()
