"""The target and the emulator against Kibo's and Increff's own documents, when they are present.

Each test reads what a vendor document says (kibo-api-notes.md, the translated and legacy
guides, Kibo's OpenAPI spec, Increff's guide) and checks the code that rests on it, so that a
document and the code cannot drift apart unnoticed. The documents live in ../shared/api/
beside the repository; a plain clone lacks them, so these tests skip there.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

from target_kibo_inventory.batching import encode_item
from target_kibo_inventory.destinations.increff import Increff
from target_kibo_inventory.destinations.kibo.api import RENEW_ON
from target_kibo_inventory.destinations.kibo.limits import ADJUST_MAX_ITEMS, REFRESH_MAX_ITEMS
from target_kibo_inventory.destinations.kibo.native import KiboUnifiedCommerce
from target_kibo_inventory.destinations.kibo.settings import (
    AUTH_URL,
    ENVIRONMENTS,
    EU_HOME_POD,
    HOSTS,
    LEGACY_AUTH_URL,
    LEGACY_BASE_URL,
    PODS,
)
from target_kibo_inventory.destinations.kibo.translated import PATHS, KiboTranslated
from target_kibo_inventory.destinations.registry import build, config_schema, read_settings
from target_kibo_inventory.emulator.increff import example_name
from target_kibo_inventory.settings import Settings

API = Path(__file__).resolve().parents[2] / "shared" / "api"
ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    not API.is_dir(), reason=f"the vendors' documents are not at {API} (a plain clone)"
)

CONFIG_SCHEMA = config_schema()
DEFAULTS = {k: v["default"] for k, v in CONFIG_SCHEMA["properties"].items() if "default" in v}
KIBO = {"tenant_id": "100234", "api_key": "app-id", "api_secret": "app-secret-0123"}


def _settings(**config: object) -> Settings:
    return read_settings({**DEFAULTS, **KIBO, **config})


def _text(name: str) -> str:
    return (API / name).read_text(encoding="utf-8", errors="replace")


def _section(markdown: str, title: str) -> str:
    """A `## title` section of a markdown document, up to the next one."""
    start = markdown.index(f"## {title}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end > 0 else None]


@pytest.fixture(scope="module")
def spec() -> dict:
    return json.loads(_text("kibo-openapi-inventory.json"))


# Item 1: authentication


def test_oauth_is_the_default_because_it_is_the_documented_form():
    """kibo-api-notes.md, Authentication: an OAuth 2.0 token from Kibo's token URL, JSON, with
    the Application (Client) ID and Client Secret from the Dev Center; no page describes the
    API key itself as the bearer."""
    auth = _section(_text("kibo-api-notes.md"), "Authentication")
    assert AUTH_URL in auth
    assert "`Content-Type: application/json`" in auth
    assert "Application (Client) ID and the Client Secret" in auth
    assert "Dev Center" in auth
    assert "No page found describes sending an API key itself as a bearer token" in auth
    assert CONFIG_SCHEMA["properties"]["auth_method"]["default"] == "oauth"
    token = build(_settings()).auth().token_request  # type: ignore[union-attr]
    assert (token.url, token.form, token.renew_on) == (AUTH_URL, "json", {401})
    for setting in ("api_key", "api_secret"):
        assert "Dev Center" in CONFIG_SCHEMA["properties"][setting]["description"]


def test_the_legacy_token_form_and_its_renewal_on_401_or_403():
    """The legacy OMS: HTTP Basic at its own token URL, a new token on 401 or 403."""
    auth = _section(_text("kibo-api-notes.md"), "Authentication")
    assert LEGACY_AUTH_URL in auth
    assert "`Authorization: Basic base64(apikey:secret)`" in auth
    assert "when a call answers 401 or 403" in auth
    assert RENEW_ON["basic"] == {401, 403}
    legacy_host = build(_settings(base_url=LEGACY_BASE_URL))
    legacy = legacy_host.auth().token_request  # type: ignore[union-attr]
    assert (legacy.url, legacy.form, legacy.renew_on) == (LEGACY_AUTH_URL, "basic", {401, 403})


def test_the_site_header_goes_to_the_translated_endpoints_too():
    """The "API Authentication" page serves the translated endpoints too: calls may need
    x-vol-tenant and x-vol-site."""
    auth = _section(_text("kibo-api-notes.md"), "Authentication")
    assert "the family that\n  serves the translated OMS endpoints" in auth
    assert "`x-vol-tenant` and `x-vol-site` headers" in auth
    translated = build(_settings(site_id="5"))
    assert isinstance(translated, KiboTranslated)
    assert translated.headers() == {"x-vol-tenant": "100234", "x-vol-site": "5"}


def test_no_document_makes_the_token_url_follow_the_region(spec):
    """The notes name one token URL for production tenants and sandboxes (and one for beta);
    the spec lists an EU home pod as a server, not as a token URL. So an EU host keeps Kibo's
    token URL unless auth_url says otherwise."""
    auth = _section(_text("kibo-api-notes.md"), "Authentication")
    assert "(production tenants and\n  sandboxes)" in auth
    assert "euw" not in auth  # no EU token URL
    servers = {s["description"]: s["url"] for s in spec["servers"]}
    assert servers["EURO HomePod Api"] == EU_HOME_POD + "/api"
    eu_host = "https://t1.tp1.euw1.kibocommerce.com"
    eu = build(_settings(api_style="unified_commerce", base_url=eu_host))
    assert eu.auth().token_request.url == AUTH_URL  # type: ignore[union-attr]


# Item 2: the native API's hosts


def test_the_native_environments_are_the_spec_s_pods(spec):
    [tenant_level] = [s for s in spec["servers"] if s["description"] == "Tenant Level Api"]
    assert tenant_level["url"] == "https://t{tenantId}.{env}.mozu.com/api"
    pods = tenant_level["variables"]["env"]["enum"]
    assert set(pods) == set(PODS)
    assert "production" not in pods
    assert set(PODS) | set(HOSTS) == set(ENVIRONMENTS)
    for pod in pods:
        native = build(_settings(api_style="unified_commerce", environment=pod))
        assert isinstance(native, KiboUnifiedCommerce)
        url = tenant_level["url"].format(tenantId="100234", env=pod)
        assert native.request("refresh", "L", []).url == (
            url + "/commerce/inventory/v5/inventory/refresh"
        )
    hosts = _section(_text("kibo-api-notes.md"), "Hosts of the native API")
    assert "US production\n  `https://t{tenant}.tp{N}.mozu.com/api`" in hosts


def test_the_translated_hosts_are_the_guides(spec):
    """The guides' URL tables: sandbox and production, both packages, refresh and adjust."""
    operations = {
        "refresh": "kibo-uc-inventory-refresh.txt",
        "adjust": "kibo-uc-inventory-adjust.txt",
    }
    packages = {"V5": "inventory_v5", "Inventory Specific": "inventory_specific"}
    row = re.compile(r"^(V5|Inventory Specific) (Production|Sandbox) URL \| (\S+) \|", re.M)
    for operation, guide in operations.items():
        rows = row.findall(_text(guide))
        assert len(rows) == 4, guide
        for package, environment, url in rows:
            settings = _settings(
                tenant_id="{tenantId}",
                environment=environment.lower(),
                api_package=packages[package],
            )
            assert KiboTranslated(settings).request(operation, "L", []).url == url, rows
    assert set(PATHS) == set(packages.values())


# Item 3: no undocumented call on the way to a first load


def test_the_job_queue_is_read_only_where_a_document_places_it(spec):
    """The translated guides list refresh and adjust only; the legacy job page places the
    queue on the legacy host; the spec documents Get Jobs on the native API."""
    for guide in ("kibo-uc-inventory-refresh.txt", "kibo-uc-inventory-adjust.txt"):
        assert "queue" not in _text(guide).replace("queue of jobs", "")
    queue = _section(_text("kibo-api-notes.md"), "Job queue")
    assert "The translated guides list only refresh and adjust on the translation host" in queue
    assert "integration.shopatron.com (`/api/v1/queue`, `/inv/api/v1/queue`)" in queue
    get_jobs = spec["paths"]["/commerce/inventory/v1/queue"]["get"]
    assert "limit" in {p["name"] for p in get_jobs["parameters"]}
    native = build(_settings(api_style="unified_commerce"))
    assert native.job_queue is not None
    assert native.job_queue.documented
    assert native.job_queue.jobs_url(None, limit=1) == (
        "https://t100234.sandbox.mozu.com/api/commerce/inventory/v1/queue?limit=1"
    )
    translated = build(_settings()).job_queue
    assert translated is not None
    assert not translated.documented


# Item 4: Increff's answer


def test_increff_s_own_example_answer_fails_nothing_and_is_told_once():
    guide = _text("increff-inventory-absolute.txt")
    [sent] = re.findall(r'"channelSkuCode"\s*:\s*"([^"]+)"', guide)
    answer = re.search(r'\{ "failureProducts": \[[^]]*\], "successProducts": \[[^]]*\] \}', guide)
    assert answer is not None
    assert (sent, json.loads(answer.group())) == (
        "ITEM302",
        {"failureProducts": [], "successProducts": ["302"]},
    )
    assert "List of channelSkuCode for which inventory update was not successful" in guide
    increff = build(
        read_settings(
            {
                **DEFAULTS,
                "destination": "increff",
                "base_url": "https://acme.increff.com",
                "increff_auth_username": "u",
                "increff_auth_password": "p-0123",
                "increff_auth_domain": "d",
            }
        )
    )
    assert isinstance(increff, Increff)
    item = encode_item({"channelSkuCode": sent, "quantity": 40})
    read = increff.read_answer("refresh", answer.group().encode(), [item])
    assert (read.succeeded, read.failed) == (1, [])
    [warning] = increff.run_warnings()
    assert "'ITEM302' sent, '302' answered" in warning
    assert example_name(sent) == "302"  # the emulator's example shape is the guide's


# Item 5: the refresh limit


def test_the_refresh_limit_is_the_prose_and_the_spec_not_the_tables(spec):
    for guide in ("kibo-uc-inventory-refresh.txt", "kibo-oms-inventory-refresh-legacy.txt"):
        text = _text(guide)
        assert "maximum number of items that can be sent in one refresh request is 12000" in text
        assert "List of items to refresh. The maximum length is 1000." in text
    refresh = spec["paths"]["/commerce/inventory/v5/inventory/refresh"]["post"]["description"]
    adjust = spec["paths"]["/commerce/inventory/v5/inventory/adjust"]["post"]["description"]
    assert "this Refresh API can accept up to 12000 items" in refresh
    assert "this Adjust API only accepts up to 1000 items" in adjust
    assert (REFRESH_MAX_ITEMS, ADJUST_MAX_ITEMS) == (12000, 1000)
    batching = (ROOT / "docs" / "batching.md").read_text()
    assert '"maximum length is 1000"' in batching
    assert "The target keeps\n12000" in batching


# Item 6: the emulator reads the documents


def test_the_emulator_serves_the_pod_hosts_paths_and_the_queue_only_there(spec, emulator):
    """Every spec path the target uses answers at `/api` + path (the pod hosts' base); the
    legacy host's queue paths, which no document places on the translation host, do not."""
    headers = emulator.headers()
    body = {"locationCode": "WH1", "items": [{"sku": "A", "quantity": 1}]}
    for operation in ("refresh", "adjust"):
        path = f"/commerce/inventory/v5/inventory/{operation}"
        assert "post" in spec["paths"][path]
        answer = requests.post(emulator.url + "/api" + path, json=body, headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        job_id = answer.json()["jobID"]
    for path in ("/commerce/inventory/v1/queue", "/commerce/inventory/v1/queue/{jobID}"):
        assert "get" in spec["paths"][path]
        url = emulator.url + "/api" + path.replace("{jobID}", str(job_id))
        assert requests.get(url, headers=headers, timeout=30).status_code == 200
    for path in ("/inv/api/v1/queue", "/api/v1/queue"):
        assert requests.get(emulator.url + path, headers=headers, timeout=30).status_code == 404
