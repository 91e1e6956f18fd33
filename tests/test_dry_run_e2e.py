"""End to end: a dry run reads, validates, maps and batches everything, sends nothing (no token
either), writes each request it would send as a file, and no STATE; its files equal what a real
run sends."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from tests.harness import record, run_in_process, run_target, schema, state

KIBO_TOKEN_PATH = "/api/platform/applications/authtickets/oauth"


def _messages() -> list[dict]:
    counts = [
        record("stock", sku=f"S{i}", location_name=location, quantity=i)
        for location, n in (("L1", 7000), ("L2", 500))
        for i in range(n)
    ]
    moves = [record("moves", sku=f"M{i}", location_name="L3", quantity=-i - 1) for i in range(1500)]
    return [
        schema("stock"),
        schema("moves"),
        *counts,
        record("stock", sku="NEG", location_name="L2", quantity=-1),  # invalid for refresh
        *moves,
        state({"bookmarks": {"stock": 7501, "moves": 1500}}),
    ]


def _config(emulator) -> dict:
    return emulator.config(
        api_secret=emulator.api_secret,
        auth_url=emulator.url + KIBO_TOKEN_PATH,
        refresh_batch_items=3000,
        stream_operations={"stock": "refresh", "moves": "adjust"},
        on_invalid_record="dead_letter",
        journal_path="journal",
        job_log_path="jobs.jsonl",
    )


def _key(method: str, url_or_path: str, body: dict) -> tuple[str, str, str]:
    return method, urlsplit(url_or_path).path, json.dumps(body, sort_keys=True)


def test_a_dry_run_sends_nothing_and_plans_exactly_what_a_real_run_sends(emulator, tmp_path):
    dry_dir, real_dir = tmp_path / "dry", tmp_path / "real"
    dry_dir.mkdir()
    real_dir.mkdir()
    config = _config(emulator)
    dry = run_target({**config, "dry_run": True, "dry_run_dir": "plan"}, _messages(), dry_dir)
    assert dry.returncode == 0, dry.stderr
    assert emulator.requests() == []  # nothing sent: no token, no check, no inventory
    assert dry.states == []  # no STATE: a Meltano bookmark never moves
    assert "Dry run: no STATE is written, so no bookmark moves." in dry.stderr
    assert not (dry_dir / "journal").exists()  # the crash journal records nothing
    assert not (dry_dir / "jobs.jsonl").exists()
    assert not (dry_dir / "kibo-inventory-dead-letter.jsonl").exists()
    plan = dry_dir / "plan"
    files = sorted(plan.glob("request-*.json"))
    planned = [json.loads(path.read_text()) for path in files]
    [dead] = [json.loads(line) for line in (plan / "dead-letter.jsonl").read_text().splitlines()]
    assert dead["record"]["sku"] == "NEG"
    summary = json.loads((plan / "summary.json").read_text())
    assert (summary["dry_run"], summary["requests"], summary["items"]) == (True, len(files), 9000)
    assert summary["jobs"] == {"accepted": 0}
    everything = "".join(path.read_text() for path in plan.iterdir()) + dry.stderr + dry.stdout
    for secret in (emulator.api_key, emulator.api_secret, "Authorization", "x-vol-tenant"):
        assert secret not in everything

    real = run_target(config, _messages(), real_dir)
    assert real.returncode == 0, real.stderr
    sent = [
        r for r in emulator.requests_with_bodies() if r.get("operation") in ("refresh", "adjust")
    ]
    assert sorted(_key(p["method"], p["url"], p["body"]) for p in planned) == sorted(
        _key(r["method"], r["path"], r["body"]) for r in sent
    )
    assert sorted((p["location"], p["operation"], p["items"]) for p in planned) == [
        ("L1", "refresh", 1000),
        ("L1", "refresh", 3000),
        ("L1", "refresh", 3000),
        ("L2", "refresh", 500),
        ("L3", "adjust", 500),
        ("L3", "adjust", 1000),
    ]
    for path in files:  # each file: method, URL, body, and what it holds; never a header
        assert set(json.loads(path.read_text())) == {
            "method",
            "url",
            "operation",
            "location",
            "items",
            "stream",
            "body",
        }
    for location in ("L1", "L3"):  # in the order a real run sends them, per location
        order = [p["items"] for p in planned if p["location"] == location]
        assert order == [r["items"] for r in sent if r["locationName"] == location]


def test_a_dry_run_replaces_the_files_of_an_earlier_one(emulator, tmp_path):
    config = emulator.config(dry_run=True, refresh_batch_items=3000)
    first = [
        schema("stock"),
        *(record("stock", sku=f"S{i}", location_name="A", quantity=1) for i in range(7000)),
    ]
    assert run_in_process(config, first, tmp_path).returncode == 0
    assert len(list((tmp_path / "kibo-dry-run").glob("request-*.json"))) == 3
    second = [schema("stock"), record("stock", sku="S", location_name="B", quantity=1)]
    run = run_in_process(config, second, tmp_path)
    assert run.returncode == 0, run.stderr
    assert (
        "Dry run: removed 4 file(s) of an earlier dry run (named in its dry-run-files.jsonl)."
        in (run.stderr)
    )
    [only] = (tmp_path / "kibo-dry-run").glob("request-*.json")
    assert json.loads(only.read_text())["body"] == {
        "locationName": "B",
        "items": [{"sku": "S", "quantity": 1}],
    }
    assert emulator.requests() == []
