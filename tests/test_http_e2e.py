"""End to end: authentication, tokens, retries and failures against the emulator."""

from __future__ import annotations

import socket

import pytest

from target_kibo_inventory.emulator.server import Emulator, Options
from tests.conftest import API_KEY, API_SECRET, TENANT
from tests.harness import EmulatorClient, record, run_in_process, run_target, schema

MESSAGES = [schema("stock"), record("stock", sku="A", location_name="L1", quantity=5)]
KIBO_TOKEN_PATH = "/api/platform/applications/authtickets/oauth"
LEGACY_TOKEN_PATH = "/oauthserver/oauth2/token"


def _secret_free(run, emulator) -> None:
    for secret in (emulator.api_key, emulator.api_secret):
        assert secret not in run.stderr
        assert secret not in run.stdout


def test_wrong_api_key_fails_at_start_up_before_any_inventory_request(emulator, tmp_path):
    """OAuth by default: the credentials check gets the token, and nothing else (the translated
    endpoints document no read)."""
    run = run_target(emulator.config(api_key="not-the-key"), MESSAGES, tmp_path)
    assert run.returncode != 0
    assert "credentials check at start-up (before reading any input) failed" in run.stderr
    assert "Kibo refused the tenant or API key (HTTP 401) for the access token request" in (
        run.stderr
    )
    assert "Check api_key (the Application ID), api_secret (the Client Secret) and auth_url" in (
        run.stderr
    )
    assert "retrying" not in run.stderr
    assert [(r["path"], r["status"]) for r in emulator.requests()] == [(KIBO_TOKEN_PATH, 401)]
    assert "not-the-key" not in run.stderr
    assert run.states == []


def test_a_wrong_bearer_key_fails_fast_without_retry(key_emulator, tmp_path):
    """auth_method: bearer_api_key has no documented read to check at start-up: the first
    request shows a wrong key."""
    run = run_in_process(key_emulator.bearer_key_config(api_key="not-the-key"), MESSAGES, tmp_path)
    assert run.returncode != 0
    assert "kibo has no documented read for these settings" in run.stderr
    assert "Kibo refused the tenant or API key (HTTP 401)" in run.stderr
    assert "retrying" not in run.stderr
    assert key_emulator.queue_requests() == []
    assert [(r["status"], r["auth"]) for r in key_emulator.api_requests()] == [(401, "refused")]
    assert "not-the-key" not in run.stderr
    assert run.states == []


@pytest.mark.parametrize("check", [True, False])
def test_wrong_tenant_fails_fast(emulator, tmp_path, run_case, check):
    """The token proves the key and secret, not the tenant: the first request shows it (the
    translated endpoints document no read that would)."""
    config = emulator.config(tenant_id="other-tenant", check_credentials_at_start=check)
    run = run_case(config, MESSAGES, tmp_path)
    assert run.returncode != 0
    assert "refused the tenant or API key (HTTP 401)" in run.stderr
    assert "tenant 'other-tenant'" in run.stderr
    assert len(emulator.api_requests()) == 2  # the second with a new token, refused too
    assert emulator.queue_requests() == []


def test_with_wait_for_jobs_the_check_reads_the_queue_it_relies_on(queue_emulator, tmp_path):
    config = queue_emulator.config(tenant_id="other-tenant", wait_for_jobs=True)
    run = run_in_process(config, MESSAGES, tmp_path)
    assert run.returncode != 0
    assert "credentials check at start-up (before reading any input) failed" in run.stderr
    assert "for a read of the job queue (Get Jobs, limit 1)" in run.stderr
    assert "The job queue was read because wait_for_jobs reads it" in run.stderr
    assert queue_emulator.api_requests() == []
    assert [(r["path"], r["status"]) for r in queue_emulator.queue_requests()] == [
        ("/inv/api/v1/queue", 401)
    ] * 2  # the second with a new token, refused too


def test_a_translated_host_without_the_job_queue_is_named_with_wait_for_jobs(emulator, tmp_path):
    """The emulator's default: no queue on the translated paths (no document places it there).
    wait_for_jobs reads it at start-up; the 404 says that the queue there is assumed, and names
    the setting that turns the read off."""
    run = run_in_process(emulator.config(wait_for_jobs=True), MESSAGES, tmp_path)
    assert run.returncode != 0
    error = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert len(error) == 1, run.stderr
    assert "HTTP 404 for a read of the job queue (Get Jobs, limit 1)" in error[0]
    assert "no Kibo document places the job queue on the translation host" in error[0]
    assert "set wait_for_jobs: false to load without reading it" in error[0]
    assert emulator.api_requests() == []
    assert run.states == []
    run = run_in_process(emulator.config(wait_for_jobs=False), MESSAGES, tmp_path)
    assert run.returncode == 0, run.stderr
    assert [r["path"] for r in emulator.queue_requests()] == ["/inv/api/v1/queue"]


def test_403_fails_fast_and_other_4xx_show_the_server_message(emulator, tmp_path):
    emulator.script({"status": 403, "message": "package not licensed"})
    run = run_in_process(emulator.config(), MESSAGES, tmp_path)
    assert run.returncode != 0
    assert "refused the tenant or API key (HTTP 403)" in run.stderr
    assert "package not licensed" in run.stderr
    assert len(emulator.api_requests()) == 1
    assert [r["path"] for r in emulator.requests()].count(KIBO_TOKEN_PATH) == 1  # no renewal


def test_503_then_429_then_success(emulator, tmp_path):
    emulator.script({"status": 503}, {"status": 429, "retry_after": 1})
    run = run_target(emulator.config(), MESSAGES, tmp_path)
    assert run.returncode == 0, run.stderr
    assert [r["status"] for r in emulator.api_requests()] == [503, 429, 200]
    assert "HTTP 503" in run.stderr
    assert "HTTP 429" in run.stderr
    assert "try 2 of 6 failed, retrying in 1.0 s" in run.stderr  # Retry-After honoured
    assert emulator.stock() == {("L1", "A"): 5}
    assert len(run.states[0]["kibo_inventory"]["jobs"]) == 1


def test_retries_are_bounded(emulator, tmp_path):
    emulator.script(*[{"status": 502}] * 3)
    run = run_in_process(emulator.config(max_retries=2), MESSAGES, tmp_path)
    assert run.returncode != 0
    assert "Gave up retrying (max_retries=2" in run.stderr
    assert [r["status"] for r in emulator.api_requests()] == [502, 502, 502]
    assert run.states == []


def test_connection_refused_is_retried_then_fails(emulator, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = emulator.config(base_url=f"http://127.0.0.1:{port}", max_retries=1)
    run = run_in_process(config, MESSAGES, tmp_path)
    assert run.returncode != 0
    assert "ConnectionError" in run.stderr
    assert "try 1 of 2 failed" in run.stderr


def test_oauth_client_credentials_json_token(emulator, tmp_path):
    """The default: one token, got by the credentials check, reused by every request."""
    messages = [*MESSAGES, record("stock", sku="B", location_name="L2", quantity=1)]
    run = run_target(emulator.config(), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Credentials accepted by kibo (token)" in run.stderr
    seen = emulator.requests()
    assert [(r["path"], r["status"]) for r in seen if "operation" not in r] == [
        (KIBO_TOKEN_PATH, 200)
    ]
    assert [(r["operation"], r["auth"]) for r in seen if "operation" in r] == [
        ("refresh", "token"),
        ("refresh", "token"),
    ]
    _secret_free(run, emulator)


def test_oauth_basic_token_for_the_legacy_form(emulator, tmp_path):
    """The legacy OMS's token path takes HTTP Basic and a form body, chosen by the path."""
    config = emulator.config(auth_url=emulator.url + LEGACY_TOKEN_PATH)
    run = run_in_process(config, MESSAGES, tmp_path)
    assert run.returncode == 0, run.stderr
    assert [r["path"] for r in emulator.requests()] == [
        LEGACY_TOKEN_PATH,
        "/inv/api/v5/inventory/refresh/",
    ]
    assert emulator.api_requests()[0]["auth"] == "token"


def test_a_401_gets_a_new_token_once(emulator, tmp_path):
    emulator.script({"status": 401, "message": "token expired"})
    run = run_in_process(emulator.config(), MESSAGES, tmp_path)
    assert run.returncode == 0, run.stderr
    assert [(r["path"], r["status"]) for r in emulator.requests()] == [
        (KIBO_TOKEN_PATH, 200),
        ("/inv/api/v5/inventory/refresh/", 401),
        (KIBO_TOKEN_PATH, 200),
        ("/inv/api/v5/inventory/refresh/", 200),
    ]


def test_a_403_gets_a_new_token_with_the_legacy_token_form(emulator, tmp_path):
    """The legacy OMS's auth page: get a new token when a call answers 401 or 403. Kibo's own
    token URL says nothing of a 403, so there a 403 stays final (test_403_fails_fast...)."""
    emulator.script({"status": 403, "message": "token expired"})
    run = run_in_process(
        emulator.config(auth_url=emulator.url + LEGACY_TOKEN_PATH), MESSAGES, tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert "Access token refused (HTTP 403)" in run.stderr
    assert [(r["path"], r["status"]) for r in emulator.requests()] == [
        (LEGACY_TOKEN_PATH, 200),
        ("/inv/api/v5/inventory/refresh/", 403),
        (LEGACY_TOKEN_PATH, 200),
        ("/inv/api/v5/inventory/refresh/", 200),
    ]
    assert emulator.stock() == {("L1", "A"): 5}


def test_a_second_401_after_a_new_token_fails(emulator, tmp_path):
    emulator.script({"status": 401}, {"status": 401})
    run = run_in_process(emulator.config(), MESSAGES, tmp_path)
    assert run.returncode != 0
    assert "refused the tenant or API key (HTTP 401)" in run.stderr
    assert len(emulator.api_requests()) == 2
    _secret_free(run, emulator)


def test_wrong_client_secret_fails_at_the_token_endpoint(emulator, tmp_path):
    run = run_in_process(emulator.config(api_secret="wrong-secret"), MESSAGES, tmp_path)
    assert run.returncode != 0
    assert "access token request" in run.stderr
    assert "(HTTP 401)" in run.stderr
    assert emulator.api_requests() == []
    assert "wrong-secret" not in run.stderr


def test_site_id_is_sent_as_x_vol_site_on_the_translated_endpoints(tmp_path):
    """Kibo's API Authentication page: the calls may also need x-vol-site. An emulator whose
    tenant has site 5 refuses a translated request without it (403) and takes it with it."""
    server = Emulator(TENANT, API_KEY, API_SECRET, options=Options(site="5"))
    emulator = EmulatorClient(server.start("127.0.0.1", 0), TENANT, API_KEY, API_SECRET)
    try:
        (tmp_path / "without").mkdir()
        without = run_in_process(emulator.config(), MESSAGES, tmp_path / "without")
        assert without.returncode != 0
        assert "Kibo refused the tenant or API key (HTTP 403)" in without.stderr
        run = run_in_process(emulator.config(site_id="5"), MESSAGES, tmp_path)
        assert run.returncode == 0, run.stderr
        assert [(r["status"], r["site"]) for r in emulator.api_requests()] == [
            (403, None),
            (200, "5"),
        ]
        assert emulator.stock() == {("L1", "A"): 5}
    finally:
        server.stop()
