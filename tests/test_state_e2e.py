"""End to end: STATE output carries the tap's bookmarks untouched plus the accepted job IDs."""

from __future__ import annotations

import json
import os
import subprocess

from tests.harness import TARGET, lines, record, run_in_process, run_target, schema, state

BOOKMARKS = {
    "bookmarks": {"stock": {"replication_key": "updated_at", "replication_key_value": "2026-11-01"}}
}


def _records(n: int, location: str = "L1") -> list[dict]:
    return [record("stock", sku=f"S{i}", location_name=location, quantity=i) for i in range(n)]


def test_state_keeps_the_tap_bookmarks_and_adds_the_job_ids(emulator, tmp_path):
    echoed = {**BOOKMARKS, "kibo_inventory": {"jobs": [{"jobID": 999}]}}
    messages = [schema("stock"), *_records(3), *_records(2, "L2"), state(echoed)]
    run = run_target(emulator.config(), messages, tmp_path)
    assert run.returncode == 0, run.stderr

    assert len(run.states) == 1
    emitted = run.states[0]
    assert emitted["bookmarks"] == BOOKMARKS["bookmarks"]
    job_ids = {r["locationName"]: r["jobID"] for r in emulator.api_requests()}
    assert list(emitted) == ["bookmarks", "kibo_inventory"]
    assert sorted(emitted["kibo_inventory"]["jobs"], key=lambda j: j["locationName"]) == [
        {
            "jobID": job_ids["L1"],
            "operation": "refresh",
            "locationName": "L1",
            "items": 3,
            "stream": "stock",
        },
        {
            "jobID": job_ids["L2"],
            "operation": "refresh",
            "locationName": "L2",
            "items": 2,
            "stream": "stock",
        },
    ]


def test_state_is_written_with_job_ids_when_the_tap_sends_none(emulator, tmp_path):
    run = run_in_process(emulator.config(), [schema("stock"), *_records(4)], tmp_path)
    assert run.returncode == 0, run.stderr
    assert len(run.states) == 1
    assert list(run.states[0]) == ["kibo_inventory"]
    assert [j["items"] for j in run.states[0]["kibo_inventory"]["jobs"]] == [4]


def test_state_without_records_passes_through_with_no_jobs(emulator, tmp_path):
    run = run_in_process(emulator.config(), [schema("stock"), state(BOOKMARKS)], tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.states == [{**BOOKMARKS, "kibo_inventory": {"jobs": []}}]
    assert emulator.api_requests() == []


def test_full_requests_sent_before_a_state_are_reported_in_it(emulator, tmp_path):
    messages = [schema("stock"), *_records(12000), *_records(5, "L2"), state(BOOKMARKS)]
    run = run_in_process(emulator.config(), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    jobs = run.states[-1]["kibo_inventory"]["jobs"]
    assert sorted((j["locationName"], j["items"]) for j in jobs) == [("L1", 12000), ("L2", 5)]


def test_no_state_is_written_when_a_request_is_refused(emulator, tmp_path):
    emulator.script({"status": 422, "message": "location unknown"})
    messages = [schema("stock"), *_records(2), state(BOOKMARKS)]
    run = run_in_process(emulator.config(), messages, tmp_path)
    assert run.returncode != 0
    assert "HTTP 422" in run.stderr
    assert "location unknown" in run.stderr
    assert run.states == []
    assert [r["status"] for r in emulator.api_requests()] == [422]


def test_job_id_string_of_digits_is_kept_as_given(emulator, tmp_path):
    emulator.script({"status": 200, "raw": '{ "jobID": 01234567 }'})
    run = run_in_process(emulator.config(), [schema("stock"), *_records(1)], tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.states[0]["kibo_inventory"]["jobs"][0]["jobID"] == "01234567"


def test_answer_without_job_id_is_an_error_that_shows_the_body(emulator, tmp_path):
    emulator.script({"status": 200, "raw": '{"status": "queued"}'})
    run = run_in_process(emulator.config(), [schema("stock"), *_records(1)], tmp_path)
    assert run.returncode != 0
    assert "has no jobID" in run.stderr
    assert '{"status": "queued"}' in run.stderr
    assert run.states == []


def test_config_from_environment_and_input_from_a_file(emulator, tmp_path):
    """`--config ENV` and `--input FILE`, as every SDK target allows."""
    messages = tmp_path / "messages.jsonl"
    messages.write_text(lines([schema("stock"), *_records(2), state(BOOKMARKS)]))
    env = {**os.environ, **emulator.environment(api_package="inventory_v5")}
    done = subprocess.run(
        [TARGET, "--config", "ENV", "--input", str(messages)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["bookmarks"] == BOOKMARKS["bookmarks"]
    assert [r["path"] for r in emulator.api_requests()] == ["/api/v5/inventory/refresh"]


def test_a_clean_adjust_run_leaves_nothing_that_skips_the_next_run(emulator, tmp_path):
    """Two days of the same sales, from a tap without state: both are applied."""
    config = emulator.config(operation="adjust")
    sales = [schema("stock"), record("stock", sku="A", location_name="L", quantity=-1)] * 1
    sales += [record("stock", sku="A", location_name="L", quantity=-1)]
    for day in (1, 2):
        run = run_in_process(config, sales, tmp_path)
        assert run.returncode == 0, run.stderr
        assert "came after the tap's last STATE message" in run.stderr
        assert emulator.stock() == {("L", "A"): -2 * day}
    assert not list(tmp_path.glob("kibo-inventory-journal-*"))
