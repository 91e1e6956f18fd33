"""The test harness: Singer messages, running the target's CLI, reading the emulator."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import random
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import requests

from target_kibo_inventory import redaction
from target_kibo_inventory.emulator.server import KIBO_TOKEN_PATH
from target_kibo_inventory.target import TargetKiboInventory

BIN = Path(sys.executable).parent
TARGET = str(BIN / "target-kibo-inventory")

ALL_FIELDS = {
    name: {}
    for name in (
        "sku",
        "upc",
        "part_number",
        "location_name",
        "quantity",
        "bin_id",
        "ltd",
        "floor",
        "safety_stock",
        "currency_id",
        "retail_price",
        "inventory_locator_name",
        "attributes",
    )
}
"""Schema properties for every API field (snake_case), of any type."""

STOCK_SCHEMA = {
    "type": "object",
    "properties": {
        "sku": {"type": "string"},
        "location_name": {"type": "string"},
        "quantity": {"type": ["integer", "string"]},
    },
}


def schema(stream: str, properties: dict | None = None, key_properties: list | None = None) -> dict:
    """A SCHEMA message."""
    body = {"type": "object", "properties": properties} if properties else STOCK_SCHEMA
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": body,
        "key_properties": key_properties or [],
    }


def record(stream: str, **fields: Any) -> dict:
    """A RECORD message."""
    return {"type": "RECORD", "stream": stream, "record": fields}


def state(value: dict) -> dict:
    """A STATE message."""
    return {"type": "STATE", "value": value}


def lines(messages: Iterable[dict]) -> str:
    """Singer messages as the text a tap writes."""
    return "".join(json.dumps(m) + "\n" for m in messages)


@dataclass
class Run:
    """The outcome of one CLI run."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def states(self) -> list[dict]:
        """The STATE values the target wrote, in order."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def start_target(
    cwd: Path,
    *,
    stdin: Any = subprocess.PIPE,
    stdout: Any = subprocess.PIPE,
    stderr: Any = subprocess.PIPE,
) -> subprocess.Popen:
    """The target's CLI started with `config.json` of `cwd`, its streams as text; for tests
    that act while it runs (run_target waits for the end). Read it with output_of."""
    return subprocess.Popen(
        [TARGET, "--config", "config.json"],
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        cwd=cwd,
        text=True,
    )


def output_of(process: subprocess.Popen) -> tuple[str, str]:
    """What a process wrote to its stdout and stderr pipes, read to the end; then the pipes
    are closed and the process waited for (`communicate` would refuse a stdin already closed)."""
    with process:  # Popen.__exit__ closes the pipes and waits
        out = process.stdout.read() if process.stdout else ""
        err = process.stderr.read() if process.stderr else ""
    return out, err


def run_target(
    config: dict,
    messages: Iterable[dict] | str,
    tmp_path: Path,
    *args: str,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> Run:
    """Run the real CLI in tmp_path with this config, feeding the messages on stdin; `env`
    adds to the environment."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    text = messages if isinstance(messages, str) else lines(messages)
    done = subprocess.run(
        [TARGET, "--config", str(config_path), *args],
        input=text,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
    )
    return Run(done.returncode, done.stdout, done.stderr)


PYTHON_WARNINGS = (
    ("default", DeprecationWarning, "__main__"),
    ("ignore", DeprecationWarning, ""),
    ("ignore", PendingDeprecationWarning, ""),
    ("ignore", ImportWarning, ""),
    ("ignore", ResourceWarning, ""),
)
"""A new interpreter's warning filters (pytest's turn warnings into errors)."""


def run_in_process(
    config: dict,
    messages: Iterable[dict] | str,
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
) -> Run:
    """run_target's run without a new process: the same command line (the console script's
    `TargetKiboInventory.cli`), in tmp_path, the messages as its standard input, `env` added to
    the environment; what it writes to stdout and stderr, and its exit status (an uncaught
    error: the interpreter's hook, 1). What a process keeps from one run to the next is put
    back as a new process has it (logging, warnings, the secrets masked, the working folder).
    For the cases of a behaviour that one CLI test already shows (a rule, a setting, an input):
    about 30 ms instead of a process start's 0.6 s.
    """
    redaction.FILTER.set_secrets(())
    (tmp_path / "config.json").write_text(json.dumps(config))
    text = messages if isinstance(messages, str) else lines(messages)
    stdin = io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8")
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    stderr = io.StringIO()
    root = logging.getLogger()
    saved = (sys.stdin, sys.stdout, sys.stderr, sys.excepthook, root.handlers[:], root.level)
    cwd, environ = Path.cwd(), dict(os.environ)
    sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
    os.chdir(tmp_path)
    os.environ.update(env or {})
    try:
        with warnings.catch_warnings():
            warnings.resetwarnings()
            for action, category, module in PYTHON_WARNINGS:
                warnings.filterwarnings(action, category=category, module=module)
            code = _exit_status(TargetKiboInventory, ["--config", "config.json", *args])
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(environ)
        logging.captureWarnings(False)
        sys.stdin, sys.stdout, sys.stderr, sys.excepthook, handlers, level = saved
        root.handlers[:] = handlers
        root.setLevel(level)
    return Run(code, stdout.buffer.getvalue().decode(), stderr.getvalue())  # type: ignore[attr-defined]


def _exit_status(target: Any, args: list[str]) -> int:
    """Run the target's command line as its console script does; the process's exit status."""
    try:
        target.cli.main(args, prog_name="target-kibo-inventory")
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except Exception:  # uncaught: what the interpreter does
        sys.excepthook(*sys.exc_info())
        return 1
    return 0


def free_port() -> int:
    """A free TCP port of 127.0.0.1 below the ephemeral range, for a server started by another
    process: no port-0 server nor outgoing connection of a test running in parallel takes it
    between this choice and that process's bind (a choice of port 0 here could be taken so)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        port = random.randrange(10_000, low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


@contextlib.contextmanager
def emulator_cli(*args: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """The kibo-emulator command serving on a free port until the block ends; its URL and
    process. It is asked whether it serves until it answers; if it ended (its port was taken
    after all), it is started again on another."""
    for _ in range(5):
        port = free_port()
        process = subprocess.Popen(
            [str(BIN / "kibo-emulator"), "--port", str(port), *args], stderr=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{port}"
        try:
            if _serves(url, process):
                yield url, process
                return
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
    raise AssertionError(f"kibo-emulator {' '.join(args)} did not serve on 5 ports")


def _serves(url: str, process: subprocess.Popen) -> bool:
    """Wait until the emulator answers at url (True) or its process ended (False)."""
    deadline = time.monotonic() + 60
    while process.poll() is None:
        with contextlib.suppress(requests.ConnectionError):
            requests.get(url + "/emulator/health", timeout=5).raise_for_status()
            return process.poll() is None
        assert time.monotonic() < deadline, f"kibo-emulator did not answer at {url} in 60 s"
        time.sleep(0.05)
    return False


class EmulatorClient:
    """Reads the emulator's views and drives its admin endpoints over HTTP."""

    def __init__(self, url: str, tenant: str, api_key: str, api_secret: str) -> None:
        self.url = url
        self.tenant = tenant
        self.api_key = api_key
        self.api_secret = api_secret
        self._token: str | None = None

    def config(self, **overrides: Any) -> dict:
        """A target config pointed at this emulator: OAuth (the default auth_method) with the
        emulator's Application ID and Client Secret, its token endpoint as auth_url."""
        return {
            "tenant_id": self.tenant,
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "auth_url": self.url + KIBO_TOKEN_PATH,
            "base_url": self.url,
            **overrides,
        }

    def environment(self, **overrides: Any) -> dict[str, str]:
        """config() as TARGET_KIBO_INVENTORY_* variables (for `--config ENV`): text as it is,
        any other value as JSON."""
        return {
            f"TARGET_KIBO_INVENTORY_{name.upper()}": v if isinstance(v, str) else json.dumps(v)
            for name, v in self.config(**overrides).items()
        }

    def bearer_key_config(self, **overrides: Any) -> dict:
        """A target config that sends the API key itself (auth_method: bearer_api_key); the
        emulator must accept it (Options.accept_api_key)."""
        config = self.config(auth_method="bearer_api_key", **overrides)
        del config["api_secret"], config["auth_url"]
        return config

    def token(self) -> str:
        """A new access token from the emulator's Kibo token endpoint."""
        form = {
            "client_id": self.api_key,
            "client_secret": self.api_secret,
            "grant_type": "client_credentials",
        }
        answer = requests.post(self.url + KIBO_TOKEN_PATH, json=form, timeout=30)
        answer.raise_for_status()
        return answer.json()["access_token"]

    def headers(self) -> dict[str, str]:
        """Headers of a Kibo request the emulator accepts: the tenant and an access token (the
        first call gets one, later calls reuse it)."""
        if self._token is None:
            self._token = self.token()
        return {"x-vol-tenant": self.tenant, "Authorization": f"Bearer {self._token}"}

    def get(self, path: str, **params: Any) -> Any:
        answer = requests.get(self.url + path, params=params, timeout=120)
        answer.raise_for_status()
        return answer.json()

    def post(self, path: str, body: Any) -> Any:
        answer = requests.post(self.url + path, json=body, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def stock(self, location: str | None = None) -> dict[tuple[str, str], int]:
        """(location, sku or partNumber or upc) → quantity, once every job is applied."""
        params = {"wait": 1, **({"location": location} if location else {})}
        rows = self.get("/emulator/inventory", **params)["inventory"]
        return {
            (r["locationName"], r.get("sku") or r.get("partNumber") or r.get("upc")): r["quantity"]
            for r in rows
        }

    def inventory(self) -> list[dict]:
        """Full stock rows, once every job is applied."""
        return self.get("/emulator/inventory", wait=1)["inventory"]

    def requests(self) -> list[dict]:
        """Every request the emulator saw."""
        return self.get("/emulator/requests")["requests"]

    def api_requests(self) -> list[dict]:
        """Inventory write requests only (not token requests, not reads of the job queue,
        such as the target's credentials check at start-up and its polls)."""
        return [r for r in self.requests() if "operation" in r and r["operation"] != "queue"]

    def queue_requests(self) -> list[dict]:
        """Reads of the job queue (Get Job, Get Jobs)."""
        return [r for r in self.requests() if r.get("operation") == "queue"]

    def requests_with_bodies(self) -> list[dict]:
        """Every request the emulator saw, each with its parsed JSON body."""
        return self.get("/emulator/requests", bodies=1)["requests"]

    def jobs(self) -> list[dict]:
        return self.get("/emulator/jobs", wait=1)["jobs"]

    def job(self, job_id: int, *, items: bool = False) -> dict:
        return self.get(f"/emulator/jobs/{job_id}", **({"items": 1} if items else {}))

    def faults(self, **faults: Any) -> dict:
        """Inject seeded faults from now on."""
        return self.post("/emulator/faults", faults)

    def script(self, *answers: dict) -> None:
        """Answer the next inventory requests with these."""
        self.post("/emulator/script", {"responses": list(answers)})


class LateFirstTry(NamedTuple):
    """What run_with_a_late_first_try saw."""

    stderr: str
    elapsed: float
    """How long the target ran."""
    before_first_try: float
    """A monotonic time (the emulator's clock too) before the first try began: the target
    had not yet read the 1000th item that made its first request due."""


def run_with_a_late_first_try(emulator: EmulatorClient, cwd: Path, **settings: Any) -> LateFirstTry:
    """Counts 1 then counts 2 for 1000 SKUs at location L, one refresh request each, where the
    first try of the first request times out and is applied by the server 3 s after it began
    (the emulator's latency fault); every later try is answered at once. The target must end
    with 0."""
    older = [record("stock", sku=f"S{i}", location_name="L", quantity=1) for i in range(1000)]
    newer = [record("stock", sku=f"S{i}", location_name="L", quantity=2) for i in range(1000)]
    config = emulator.config(
        refresh_batch_items=1000, request_timeout=1, max_parallel_requests=1, **settings
    )
    (cwd / "config.json").write_text(json.dumps(config))
    emulator.faults(latency=3)  # the first try: answered after 3 s, applied then
    started = time.monotonic()
    target = start_target(cwd, stdout=subprocess.DEVNULL)
    target.stdin.write(lines([schema("stock"), *older[:-1]]))
    target.stdin.flush()
    before_first_try = time.monotonic()
    target.stdin.write(lines([older[-1], *newer]))
    target.stdin.close()
    while emulator.get("/emulator/health")["in_flight"] == 0:
        assert target.poll() is None, output_of(target)[1]  # ended before its first request
        time.sleep(0.01)
    emulator.faults(latency=0)  # the retry and the next request are answered at once
    assert target.wait(timeout=60) == 0
    elapsed = time.monotonic() - started
    return LateFirstTry(output_of(target)[1], elapsed, before_first_try)
