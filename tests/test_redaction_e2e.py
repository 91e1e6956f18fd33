"""End to end: no secret reaches stderr, stdout or a file, whatever prints it, DEBUG included.

Secrets of the wrong JSON type (printed by the SDK's config validation), and servers that echo
the credentials or the access token in an error answer.
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from target_kibo_inventory.emulator.increff import IncreffAccount
from target_kibo_inventory.emulator.server import Emulator
from tests.harness import (
    TARGET,
    EmulatorClient,
    Run,
    lines,
    record,
    run_in_process,
    run_target,
    schema,
    state,
)

KEY = "client-id-5f0c9e71d2"
SECRET = "client-secret-8b3a60e4f9"
TOKEN = "access-token-1d9e4c7a2b6f08e3"
TENANT = "t-echo"
INCREFF_PASSWORD = "IncPw456"
BASIC = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
SHOWN = 500
"""Characters of a server's answer that the target shows."""


def _run(
    config: dict,
    tmp_path: Path,
    messages: list[dict] | None = None,
    run: Callable[..., Run] = run_target,
) -> str:
    """Run the CLI at DEBUG (or, with `run` run_in_process, its command in process); return
    everything it printed and every file it wrote."""
    done = run(config, messages or _messages(), tmp_path, env={"LOGLEVEL": "DEBUG"})
    assert done.returncode != 0
    assert "DEBUG" in done.stderr
    files = [p.read_text() for p in tmp_path.iterdir() if p.is_file() and p.name != "config.json"]
    return "\n".join([done.stdout, done.stderr, *files])


def _messages() -> list[dict]:
    return [
        schema("stock"),
        record("stock", sku="A", location_name="L", quantity=1),
        state({"bookmarks": {"stock": 1}}),
    ]


@pytest.mark.parametrize(
    ("secrets", "shown"),
    [
        ({"api_key": 987654321012}, ["987654321012"]),
        ({"api_key": 98765.4321}, ["98765.4321"]),
        ({"api_secret": ["list-secret-0a1b2c"]}, ["list-secret-0a1b2c"]),
        ({"api_secret": {"nested": "dict-secret-3d4e5f"}}, ["dict-secret-3d4e5f"]),
        ({"api_key": True, "api_secret": 4242424242}, ["4242424242"]),
    ],
)
def test_a_secret_of_the_wrong_type_is_not_printed(tmp_path, run_case, secrets, shown):
    config = {"tenant_id": TENANT, "api_key": KEY, **secrets}
    output = _run(config, tmp_path, run=run_case)
    setting = next(iter(secrets))
    assert f"in config['{setting}']" in output  # the SDK's validation error names it
    for value in shown:
        assert value not in output


class _Echo(BaseHTTPRequestHandler):
    """A token URL and inventory API that answer 401, echoing the request (its headers and
    body) as `text`, inside a JSON `json` message, or `long`: cut by the target at 500
    characters, in the middle of a secret. With `token` None the token URL gives TOKEN."""

    token: str | None = "text"
    api = "text"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        echo = "".join(f"{k}: {v}\n" for k, v in self.headers.items()) + body
        mode = self.token if self.path == "/token" else self.api
        if mode is None:
            self._send(200, json.dumps({"access_token": TOKEN, "expires_in": 3600}))
        elif mode == "json":
            self._send(401, json.dumps({"message": f"invalid client: {echo}", "request": body}))
        elif mode == "long":  # all but the last 4 characters of the first secret are shown
            at, secret = min((echo.find(s), s) for s in (KEY, SECRET, TOKEN, BASIC) if s in echo)
            self._send(401, "x" * (SHOWN - at - len(secret) + 4) + echo)
        else:
            self._send(401, f"Rejected request:\n{echo}")

    def do_GET(self) -> None:
        """The credentials check at start-up reads the job queue: echoed the same way."""
        self.do_POST()

    def _send(self, status: int, text: str) -> None:
        answer = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[tuple[str, type[_Echo]]]:
    handler = type("Echo", (_Echo,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("token_request", ["json", "basic"])
@pytest.mark.parametrize("mode", ["text", "json", "long"])
def test_a_token_url_echoing_the_credentials_shows_neither(
    echo, tmp_path, run_case, mode, token_request
):
    url, handler = echo
    handler.token = mode
    config = {
        "tenant_id": TENANT,
        "api_key": KEY,
        "api_secret": SECRET,
        "base_url": url,
        "auth_url": url + "/token",
        "token_request": token_request,
    }
    output = _run(config, tmp_path, run=run_case)
    assert "Kibo refused the tenant or API key (HTTP 401) for the access token request" in output
    assert "Server said:" in output
    for secret in (KEY, SECRET, BASIC, KEY[:-4], SECRET[4:], BASIC[:-6]):
        assert secret not in output


@pytest.mark.parametrize("mode", ["text", "json", "long"])
def test_an_api_echoing_the_key_or_the_access_token_shows_neither(echo, tmp_path, run_case, mode):
    url, handler = echo
    handler.token, handler.api = None, mode
    with_key = {"tenant_id": TENANT, "api_key": KEY, "base_url": url}
    output = _run({**with_key, "auth_method": "bearer_api_key"}, tmp_path, run=run_case)
    assert "Kibo refused the tenant or API key (HTTP 401)" in output
    assert KEY not in output
    assert KEY[:-4] not in output

    with_token = {**with_key, "api_secret": SECRET, "auth_url": url + "/token"}
    output = _run(with_token, tmp_path, run=run_case)
    assert "Kibo refused the tenant or API key (HTTP 401)" in output
    for secret in (KEY, SECRET, TOKEN, TOKEN[:-4]):
        assert secret not in output


def test_the_emulator_echoing_the_key_in_a_scripted_answer(key_emulator, tmp_path):
    """The key itself as the bearer (auth_method: bearer_api_key): no token to renew."""
    key_emulator.script({"status": 401, "raw": f"Bearer {key_emulator.api_key} is refused"})
    output = _run(key_emulator.bearer_key_config(), tmp_path)
    assert "Server said: Bearer *** is refused" in output
    assert key_emulator.api_key not in output


@pytest.fixture
def increff_emulator() -> Iterator[EmulatorClient]:
    """An emulator whose Increff account has the password of issue 17's report."""
    server = Emulator(TENANT, KEY, increff=IncreffAccount("inc-user", INCREFF_PASSWORD, "inc"))
    url = server.start("127.0.0.1", 0)
    yield EmulatorClient(url, TENANT, KEY, "")
    server.stop()


def test_a_password_echoed_next_to_letters_digits_or_underscore_is_masked(
    increff_emulator, tmp_path
):
    """Every occurrence of a secret is masked, whatever surrounds it (issue 17, item 7)."""
    PW = INCREFF_PASSWORD  # noqa: N806
    echoed = {
        "code": "BAD_DATA",
        "message": f"authPassword_{PW} is not allowed",
        "description": f"x{PW}y 9{PW}0 {PW}_{PW}",
    }
    increff_emulator.script({"status": 400, "raw": json.dumps(echoed)})
    config = {
        "destination": "increff",
        "base_url": increff_emulator.url,
        "increff_auth_username": "inc-user",
        "increff_auth_password": INCREFF_PASSWORD,
        "increff_auth_domain": "inc",
    }
    output = _run(config, tmp_path, run=run_in_process)  # the CLI: the cases above
    assert [r["status"] for r in increff_emulator.api_requests()] == [400]
    assert "authPassword_*** is not allowed" in output
    assert "x***y 9***0 ***_***" in output
    assert INCREFF_PASSWORD not in output


def test_a_secret_in_a_failed_jobs_messages_is_masked_in_the_files(queue_emulator, tmp_path):
    """The dead-letter file and the job log mask secrets too: Kibo's messages of a FAILED job
    quote the items, here a SKU that holds the API key (wait_for_jobs on the translated
    endpoints: the emulator serves the assumed job queue there)."""
    emulator = queue_emulator
    emulator.faults(fail_sku_prefix="BAD")
    sku = f"BAD_{emulator.api_key}_1"
    config = emulator.config(
        wait_for_jobs=True,
        on_invalid_record="dead_letter",
        dead_letter_path="dead.jsonl",
        job_log_path="jobs.jsonl",
    )
    (tmp_path / "config.json").write_text(json.dumps(config))
    messages = [schema("stock"), record("stock", sku=sku, location_name="L", quantity=1)]
    done = subprocess.run(
        [TARGET, "--config", "config.json"],
        input=lines(messages),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    [dead] = (tmp_path / "dead.jsonl").read_text().splitlines()
    assert json.loads(dead)["messages"] == ["items[0].sku BAD_***_1: failed (fail_sku_prefix BAD)"]
    job_log = (tmp_path / "jobs.jsonl").read_text()
    assert "BAD_***_1" in job_log
    for text in (dead, job_log, done.stderr, done.stdout):
        assert emulator.api_key not in text
