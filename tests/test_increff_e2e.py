"""End to end: Increff OMS through the CLI and the emulator (`destination: increff`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from target_kibo_inventory.emulator.server import Emulator, Options
from tests.harness import (
    TARGET,
    EmulatorClient,
    lines,
    record,
    run_in_process,
    run_target,
    schema,
    state,
)

PASSWORD = "demo-password"


def _config(emulator, **overrides) -> dict:
    """A working Kibo config switched to Increff by settings alone."""
    return {
        **emulator.config(),
        "destination": "increff",
        "increff_auth_username": "demo-user",
        "increff_auth_password": PASSWORD,
        "increff_auth_domain": "demo",
        **overrides,
    }


def _interleaved(n: int, *locations: str, prefix: str = "SKU") -> list[dict]:
    return [
        record("stock", sku=f"{prefix}-{i:04d}", location_name=location, quantity=i % 50)
        for i in range(n)
        for location in locations
    ]


def _increff_requests(emulator) -> list[dict]:
    return [r for r in emulator.requests() if r.get("destination") == "increff"]


def test_601_skus_at_two_locations_make_full_puts_with_the_headers_and_land(emulator, tmp_path):
    messages = [schema("stock"), *_interleaved(601, "wd001", "wd002"), state({"b": 1})]
    run = run_target(_config(emulator), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    sent = _increff_requests(emulator)
    per_location = sorted((r["locationName"], r["items"]) for r in sent)
    print(f"\n[increff 601 x 2] requests {per_location}")
    assert per_location == [
        ("wd001", 1),
        ("wd001", 300),
        ("wd001", 300),
        ("wd002", 1),
        ("wd002", 300),
        ("wd002", 300),
    ]
    assert {(r["method"], r["path"], r["auth"], r["status"]) for r in sent} == {
        ("PUT", "/usp/inventories/absolute", "increff", 200)
    }
    expected = {
        (m["record"]["location_name"], m["record"]["sku"]): m["record"]["quantity"]
        for m in messages[1:-1]
    }
    assert emulator.stock() == expected
    final = run.states[-1]
    assert final["b"] == 1
    entries = final["kibo_inventory"]["requests"]
    assert sorted(e["items"] for e in entries) == [1, 1, 300, 300, 300, 300]
    assert {(e["destination"], e["failed"]) for e in entries} == {("increff", 0)}
    assert final["kibo_inventory"]["jobs"] == []
    _speaks_increff_s_words(run.stderr)


def _speaks_increff_s_words(stderr: str) -> None:
    """Increff's words in the log: its inventory updates of SKUs; no refresh, cost steps or
    jobs (the METRIC entry, for machines, keeps the summary's keys)."""
    said = [line for line in stderr.splitlines() if "METRIC: " not in line]
    assert not [line for line in said if "refresh" in line or "cost step" in line]
    assert (
        "Accepted: inventory update of 300 SKUs at location 'wd001' (stream stock); 300 "
        "succeeded, 0 failed." in stderr
    )
    [summary] = [line for line in said if "Summary (increff, succeeded)" in line]
    assert "6 requests sent (optimum 6); 0 dead-lettered" in summary
    assert "jobs" not in summary


def test_a_partial_failure_stops_naming_the_skus_or_sets_them_aside(emulator, tmp_path):
    emulator.faults(increff_reject_sku_prefix="BAD")
    good = _interleaved(10, "wd001")
    bad = [record("stock", sku=f"BAD-{i}", location_name="wd001", quantity=1) for i in range(3)]
    messages = [schema("stock"), *good, *bad, state({"b": 1})]

    (tmp_path / "fail").mkdir()
    stopped = run_in_process(_config(emulator), messages, tmp_path / "fail")
    assert stopped.returncode == 1
    assert (
        "increff refused 3 item(s) at location 'wd001' (stream stock): BAD-0 (record #11), "
        "BAD-1 (record #12), BAD-2 (record #13)"
    ) in stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert not stopped.states  # a partly failed request is never reported as done

    emulator.post("/emulator/reset", {})
    emulator.faults(increff_reject_sku_prefix="BAD")
    config = _config(emulator, on_invalid_record="dead_letter")
    run = run_in_process(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    dead = [
        json.loads(line)
        for line in (tmp_path / "kibo-inventory-dead-letter.jsonl").read_text().splitlines()
    ]
    assert sorted((d["identifier"], d["stream"], d["position"]) for d in dead) == [
        ("BAD-0", "stock", 11),
        ("BAD-1", "stock", 12),
        ("BAD-2", "stock", 13),
    ]  # every dead letter names its record
    assert {(d["destination"], d["location"]) for d in dead} == {("increff", "wd001")}
    assert all("failureProducts" in d["reason"] for d in dead)
    assert emulator.stock() == {
        ("wd001", m["record"]["sku"]): m["record"]["quantity"] for m in good
    }
    [entry] = run.states[-1]["kibo_inventory"]["requests"]
    assert (entry["items"], entry["succeeded"], entry["failed"]) == (13, 10, 3)


def test_wrong_credentials_stop_after_one_request(emulator, tmp_path):
    config = _config(emulator, increff_auth_password="wrong-password")
    run = run_in_process(config, [schema("stock"), *_interleaved(5, "wd001")], tmp_path)
    assert run.returncode == 1
    assert "Increff refused the credentials (HTTP 401)" in run.stderr
    assert "authUsername 'demo-user', authDomainName 'demo'" in run.stderr
    assert len(_increff_requests(emulator)) == 1
    assert "wrong-password" not in run.stderr


def test_a_500_is_retried_as_increff_asks(emulator, tmp_path):
    emulator.script({"status": 500})
    config = _config(emulator, max_retries=2)
    run = run_in_process(config, [schema("stock"), *_interleaved(5, "wd001")], tmp_path)
    assert run.returncode == 0, run.stderr
    assert "HTTP 500 for inventory update of 5 SKUs at location 'wd001'" in run.stderr
    assert "SERVER_ERROR" in run.stderr  # Increff's error body, shown
    assert [r["status"] for r in _increff_requests(emulator)] == [500, 200]
    assert len(emulator.stock()) == 5


def test_adjust_is_refused_at_start_up(emulator, tmp_path):
    for overrides in ({"operation": "adjust"}, {"stream_operations": {"moves": "adjust"}}):
        run = run_in_process(_config(emulator, **overrides), [schema("stock")], tmp_path)
        assert run.returncode == 1
        assert "Increff takes absolute counts only" in run.stderr
    assert emulator.requests() == []


def test_the_v0_payload_and_its_failures(emulator, tmp_path):
    emulator.faults(increff_reject_sku_prefix="BAD")
    config = _config(
        emulator, increff_payload="v0", increff_client_id=10000900, on_invalid_record="dead_letter"
    )
    rows = [
        record("stock", sku="SKU1", location_name="1000901", quantity=10, inventory_pool_id=3),
        record("stock", sku="BAD1", location_name="1000901", quantity=4),
        record("stock", sku="SKU2", location_name="Main", quantity=1),  # not an integer
    ]
    properties = {
        "sku": {"type": "string"},
        "location_name": {"type": "string"},
        "quantity": {"type": "integer"},
        "inventory_pool_id": {"type": "integer"},
    }
    run = run_in_process(config, [schema("stock", properties), *rows], tmp_path)
    assert run.returncode == 0, run.stderr
    [sent] = [
        r
        for r in emulator.get("/emulator/requests", bodies=1)["requests"]
        if r.get("destination") == "increff"
    ]
    assert sent["body"] == [
        {
            "clientId": 10000900,
            "clientSkuId": "SKU1",
            "quantity": 10,
            "inventoryPoolId": 3,
            "fulfillmentLocationId": 1000901,
        },
        {
            "clientId": 10000900,
            "clientSkuId": "BAD1",
            "quantity": 4,
            "fulfillmentLocationId": 1000901,
        },
    ]
    dead = [
        json.loads(line)
        for line in (tmp_path / "kibo-inventory-dead-letter.jsonl").read_text().splitlines()
    ]
    assert [d.get("field") or d.get("identifier") for d in dead] == [
        "fulfillmentLocationId",
        "BAD1",
    ]
    assert emulator.stock() == {("1000901", "SKU1"): 10}


def test_the_password_is_never_shown(emulator, tmp_path):
    emulator.faults(increff_reject_sku_prefix="BAD")
    config = _config(emulator, on_invalid_record="dead_letter")
    (tmp_path / "config.json").write_text(json.dumps(config))
    messages = [schema("stock"), *_interleaved(5, "wd001"), *_interleaved(2, "wd001", prefix="BAD")]
    env = {**os.environ, "LOGLEVEL": "DEBUG"}
    done = subprocess.run(
        [TARGET, "--config", "config.json"],
        input=lines(messages),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    wrong = _config(emulator, increff_auth_password=PASSWORD + "-old")
    (tmp_path / "refused").mkdir()
    refused = run_target(wrong, messages, tmp_path / "refused")
    assert refused.returncode == 1
    files = [p.read_text() for p in tmp_path.rglob("*") if p.is_file() and p.name != "config.json"]
    for text in (done.stdout, done.stderr, refused.stdout, refused.stderr, *files):
        assert PASSWORD not in text


def test_increff_s_own_example_answer_loads_with_one_warning(tmp_path):
    """increff-inventory-absolute.txt sends ITEM302 and answers "302". An emulator answering
    in that shape (`--increff-example-answers`): the run succeeds, `failureProducts` alone
    decides what failed, and one warning at the end counts the SKUs named otherwise."""
    server = Emulator("demo", "demo-key", options=Options(increff_example_answers=True))
    emulator = EmulatorClient(server.start("127.0.0.1", 0), "demo", "demo-key", "")
    try:
        emulator.faults(increff_reject_sku_prefix="BAD")
        items = [
            record("stock", sku=f"ITEM{n}", location_name="wd003", quantity=40)
            for n in range(300, 305)
        ]
        messages = [schema("stock"), *items, state({"b": 1})]
        config = {k: v for k, v in _config(emulator).items() if not k.startswith("api_")}
        run = run_in_process(config, messages, tmp_path)
        assert run.returncode == 0, run.stderr
        warnings = [line for line in run.stderr.splitlines() if "Increff's answers" in line]
        assert len(warnings) == 1, run.stderr
        assert (
            "did not name 5 of the 5 SKUs sent in successProducts or failureProducts"
            in (warnings[0])
        )
        assert "(e.g. 'ITEM300' sent, '300' answered;" in warnings[0]
        [entry] = run.states[-1]["kibo_inventory"]["requests"]
        assert (entry["items"], entry["succeeded"], entry["failed"]) == (5, 5, 0)
        assert emulator.stock() == {("wd003", f"ITEM{n}"): 40 for n in range(300, 305)}

        bad = [schema("stock"), record("stock", sku="BAD7", location_name="wd003", quantity=1)]
        (tmp_path / "bad").mkdir()
        failed = run_in_process(config, bad, tmp_path / "bad")
        assert failed.returncode == 1  # a failure named otherwise ("7") still fails the run
        assert "increff refused 1 item(s) at location 'wd003' (stream stock): 7" in failed.stderr
    finally:
        server.stop()


def test_the_documented_increff_config_for_the_emulator_loads_it(emulator, tmp_path):
    """docs/destinations.md: the emulator's Increff demo account, as it is given there."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "destinations.md").read_text()
    block = page[page.index("**Try it on the emulator.**") :].split("```json\n")[1]
    config = json.loads(block.split("```")[0].replace("http://127.0.0.1:8700", emulator.url))
    assert config["increff_auth_username"] == "demo-user"
    columns = {name: {"type": "string"} for name in ("store", "product_code", "qty_on_hand")}
    messages = [
        schema("stock", columns),
        record("stock", store="Boston", product_code="012345678900", qty_on_hand="39"),
        record("stock", store="Austin", product_code="012345678903", qty_on_hand="140"),
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("Boston", "012345678900"): 39, ("Austin", "012345678903"): 140}
    assert {r["auth"] for r in _increff_requests(emulator)} == {"increff"}
