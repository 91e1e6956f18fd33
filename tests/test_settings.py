"""Settings: start-up validation through the CLI, defaults, hosts and token URLs."""

from __future__ import annotations

import json
import subprocess

import pytest

from target_kibo_inventory.auth import BearerAuth, TokenAuth, TokenRequest
from target_kibo_inventory.destinations.kibo.settings import KiboSettings
from target_kibo_inventory.destinations.kibo.translated import KiboTranslated
from target_kibo_inventory.errors import StreamOperationError
from target_kibo_inventory.settings import Settings
from target_kibo_inventory.target import TargetKiboInventory
from tests.harness import TARGET, run_target

BASE = {"tenant_id": "t1", "api_key": "k", "api_secret": "secret-0123456789"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"operation": "upsert"}, "'upsert' is not one of ['refresh', 'adjust']"),
        ({"refresh_batch_items": 0}, "0 is less than the minimum of 1"),
        ({"refresh_batch_items": 12001}, "12001 is greater than the maximum of 12000"),
        ({"adjust_batch_items": 0}, "0 is less than the minimum of 1"),
        (
            {"stream_operations": {"moves": "delete"}},
            "'delete' is not one of ['refresh', 'adjust'] in config['stream_operations']['moves']",
        ),
        ({"environment": "staging"}, "'staging' is not one of ['sandbox', 'production', 'tp1'"),
        ({"api_package": "v4"}, "'v4' is not one of ['inventory_specific', 'inventory_v5']"),
        ({"field_map": {"qty": "on_hand"}}, "field_map has unknown API field(s) qty"),
        ({"base_url": "ftp://host"}, "base_url 'ftp://host' must be an https:// URL with a host"),
        (
            {"base_url": "http://kibo.example.com"},
            "base_url 'http://kibo.example.com' uses plain http: https is required",
        ),
        (
            {"auth_url": "http://10.0.0.5/token"},
            "auth_url 'http://10.0.0.5/token' uses plain http: https is required",
        ),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle '/nonexistent/ca.pem' is not a file"),
        ({"tenant_id": " "}, "Setting 'tenant_id' is required for destination 'kibo'"),
        (
            {"api_secret": None},
            "Setting 'api_secret' is required for destination 'kibo' with auth_method 'oauth' "
            "(the default): Kibo's APIs take an OAuth 2.0 access token, which the target gets "
            "with the Application (Client) ID (api_key) and the Client Secret (api_secret) that "
            "Kibo assigns to your application in its Dev Center. A key that Kibo accepts as a "
            "bearer token itself needs auth_method: bearer_api_key.",
        ),
        (
            {"auth_method": "bearer_api_key"},
            "Setting 'api_secret' is set, but auth_method 'bearer_api_key' sends api_key itself",
        ),
        (
            {"base_url": "http://127.0.0.1:8700"},
            "base_url 'http://127.0.0.1:8700' is on this machine, but without auth_url the OAuth "
            "token would be asked for at https://home.mozu.com/api/platform/applications/"
            "authtickets/oauth with the credentials meant for it: set auth_url too, e.g. "
            "'http://127.0.0.1:8700/api/platform/applications/authtickets/oauth'",
        ),
        ({"environment": "tp2"}, "environment 'tp2' is a pod of Kibo's native API"),
        ({"request_timeout": 0}, "0 is less than or equal to the minimum of 0"),
    ],
)
def test_invalid_settings_fail_at_start_up_with_a_clear_message(
    tmp_path, run_case, overrides, message
):
    run = run_case({**BASE, **overrides}, "", tmp_path)
    assert run.returncode == 1
    assert message in run.stderr


def test_missing_required_setting(tmp_path):
    run = run_target({"tenant_id": "t1"}, "", tmp_path)
    assert run.returncode == 1
    assert "Setting 'api_key' is required for destination 'kibo'" in run.stderr


def test_costly_batch_sizes_are_allowed_with_a_warning(tmp_path):
    config = {**BASE, "refresh_batch_items": 5000, "adjust_batch_items": 2000}
    run = run_target({**config, "check_credentials_at_start": False}, "", tmp_path)  # no host
    assert run.returncode == 0, run.stderr
    assert "refresh_batch_items=5000 is not a multiple of 3000" in run.stderr
    assert "costs as much as 6000 items" in run.stderr
    assert "adjust_batch_items=2000 is above Kibo's documented maximum of 1000" in run.stderr


def test_about_lists_the_settings_and_marks_secrets():
    about = subprocess.run(
        [TARGET, "--about", "--format=json"], capture_output=True, text=True, check=True
    )
    info = json.loads(about.stdout)
    settings = info["settings"]["properties"]
    assert settings["api_key"]["secret"] is True
    assert settings["api_secret"]["secret"] is True
    assert settings["operation"]["default"] == "refresh"
    assert settings["environment"]["default"] == "sandbox"
    for unused in ("load_method", "batch_size_rows", "add_record_metadata"):
        assert unused not in settings


def _settings(**config) -> Settings:
    target = TargetKiboInventory(config={**BASE, **config}, validate_config=True)
    return target.settings


def _kibo(**config) -> KiboTranslated:
    destination = TargetKiboInventory(config={**BASE, **config}).destination
    assert isinstance(destination, KiboTranslated)
    return destination


def _token_request(**config) -> TokenRequest:
    auth = _kibo(api_secret="s", **config).auth()
    assert isinstance(auth, TokenAuth)
    return auth.token_request


def test_default_host_is_the_sandbox_and_the_preferred_package():
    settings = _settings()
    kibo = settings.of(KiboSettings)
    assert _kibo().host == "https://t1-translation.sandbox.mozu.com"
    assert kibo.api_package == "inventory_specific"
    assert settings.operation == "refresh"
    assert (kibo.refresh_batch_items, kibo.adjust_batch_items) == (12000, 1000)
    assert settings.request_timeout == 60
    token = _token_request()
    assert token.url == "https://home.mozu.com/api/platform/applications/authtickets/oauth"
    assert token.form == "json"
    assert token.renew_on == {401}
    assert isinstance(_kibo().auth(), TokenAuth)  # auth_method oauth, the default
    bearer = _kibo(auth_method="bearer_api_key", api_secret=None).auth()
    assert isinstance(bearer, BearerAuth)  # the key itself, only when asked for


def test_production_host():
    assert _kibo(environment="production").host == "https://t1-translation.mozu.com"


def test_legacy_host_uses_the_legacy_token_url_with_basic_auth():
    assert _kibo(base_url="https://integration.shopatron.com/").host == (
        "https://integration.shopatron.com"
    )
    token = _token_request(base_url="https://integration.shopatron.com/")
    assert token.url == "https://auth.shopatron.com/oauthserver/oauth2/token"
    assert token.form == "basic"
    assert token.renew_on == {401, 403}  # the legacy OMS's auth page: a new token on 401 or 403


def test_explicit_token_settings_win():
    token = _token_request(auth_url="https://sso.example.com/token", token_request="basic")
    assert (token.url, token.form) == ("https://sso.example.com/token", "basic")
    assert _token_request(auth_url="https://sso.example.com/token").form == "json"


def test_stream_operations_override_operation_and_name_every_stream():
    streams = {"counts": "refresh", "moves": "adjust"}
    settings = _settings(operation="adjust", stream_operations=streams)
    assert settings.operation_for("counts") == "refresh"
    assert settings.operation_for("moves") == "adjust"
    assert _settings(operation="adjust").operation_for("anything") == "adjust"
    with pytest.raises(StreamOperationError, match="did you mean 'moves'"):
        settings.operation_for("movez", arrived=["counts"])
    with pytest.raises(StreamOperationError, match="name 'stock' instead of 'moves'"):
        settings.operation_for("stock", sources=["moves"])


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8700", "http://127.8.9.10", "http://[::1]:8700", "http://localhost"],
)
def test_plain_http_is_allowed_only_to_this_machine(base_url):
    assert _kibo(base_url=base_url, auth_url=base_url + "/token").host == base_url


def test_tls_is_verified_with_the_default_or_the_given_ca_bundle(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert TargetKiboInventory(config=BASE).loader.client.session.verify is True
    target = TargetKiboInventory(config={**BASE, "ca_bundle": str(bundle)})
    assert target.loader.client.session.verify == str(bundle)
