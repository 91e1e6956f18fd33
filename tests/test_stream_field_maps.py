"""`stream_field_maps`: stream name → API field → record property, over `field_map` for that
stream, checked at start-up (API fields) and when the stream's SCHEMA arrives (properties), like
`field_map`. In process, then once through the CLI against the emulator."""

from __future__ import annotations

import io
import json
import logging

import pytest
from singer_sdk.exceptions import ConfigValidationError

from target_kibo_inventory.destinations.registry import read_settings
from target_kibo_inventory.mapping import SchemaMappingError
from target_kibo_inventory.target import TargetKiboInventory
from tests.harness import lines, record, run_target, schema, state
from tests.test_pipeline import Recorder

COUNTS = {"store": {"type": "string"}, "product_code": {"type": "string"}}
COUNTS |= {"qty_on_hand": {"type": "string"}}
MOVEMENTS = {"store": {"type": "string"}, "product_code": {"type": "string"}}
MOVEMENTS |= {"movement_qty": {"type": "string"}}
CONFIG = {
    "tenant_id": "t",
    "api_key": "k",
    "api_secret": "secret-0123456789",
    "stream_operations": {"counts": "refresh", "movements": "adjust"},
    "field_map": {"locationName": "store", "upc": "product_code", "quantity": "qty_on_hand"},
    "stream_field_maps": {"movements": {"quantity": "movement_qty"}},
}


def _messages() -> list[dict]:
    return [
        schema("counts", COUNTS),
        record("counts", store="S1", product_code="0001", qty_on_hand="10"),
        record("counts", store="S1", product_code="0002", qty_on_hand="20"),
        schema("movements", MOVEMENTS),
        record("movements", store="S1", product_code="0001", movement_qty="-3"),
        state({"bookmarks": {"counts": 1, "movements": 1}}),
    ]


def _bodies(recorder: Recorder) -> list[tuple[str, dict]]:
    return [(r.url.rstrip("/").rsplit("/", 1)[1], json.loads(r.body)) for r in recorder.sent]


def test_a_stream_reads_its_own_property_over_field_map(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recorder = Recorder(lambda request: b'{"jobID": 1}')
    target = TargetKiboInventory(config=CONFIG, client=recorder)
    target.listen(io.StringIO(lines(_messages())))
    assert _bodies(recorder) == [  # the movement (movement_qty) folded into its count
        (
            "refresh",
            {
                "locationName": "S1",
                "items": [{"upc": "0001", "quantity": 7}, {"upc": "0002", "quantity": 20}],
            },
        ),
    ]


def test_field_map_for_merges_the_streams_entries_over_field_map():
    settings = TargetKiboInventory(config=CONFIG).settings
    assert settings.field_map_for("movements") == {
        "locationName": "store",
        "upc": "product_code",
        "quantity": "movement_qty",
    }
    assert settings.field_map_for("counts") == CONFIG["field_map"]


def test_an_unknown_api_field_is_refused_at_start_up_naming_the_stream():
    config = {**CONFIG, "stream_field_maps": {"movements": {"qty": "movement_qty"}}}
    with pytest.raises(ConfigValidationError) as error:
        TargetKiboInventory(config=config)
    assert str(error.value).startswith(
        "stream_field_maps.movements has unknown API field(s) qty; the API fields of "
        "destination 'kibo' are "
    )


def test_a_stream_entry_naming_no_property_stops_at_the_schema_naming_the_setting(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    config = {**CONFIG, "stream_field_maps": {"movements": {"quantity": "movement_quantity"}}}
    recorder = Recorder(lambda request: b'{"jobID": 1}')
    target = TargetKiboInventory(config=config, client=recorder)
    with pytest.raises(SchemaMappingError) as error:
        target.listen(io.StringIO(lines(_messages())))
    assert "Stream 'movements' cannot be loaded" in str(error.value)
    assert (
        "API field 'quantity' (looked for 'movement_quantity' "
        "(stream_field_maps.movements.quantity); did you mean 'movement_qty'?)"
    ) in str(error.value)
    assert "Fix stream_field_maps" in str(error.value)
    assert [b for b, _ in _bodies(recorder)] == []  # nothing of counts was sent either


def test_a_key_that_names_no_stream_of_the_run_gets_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    config = {**CONFIG, "stream_field_maps": {"movement": {"quantity": "movement_qty"}}}
    messages = [m for m in _messages() if m.get("stream") != "movements"]
    target = TargetKiboInventory(config=config, client=Recorder(lambda r: b'{"jobID": 1}'))
    with caplog.at_level(logging.WARNING):
        target.listen(io.StringIO(lines(messages)))
    assert (
        "stream_field_maps['movement'] was not used: no stream 'movement' was loaded in this run."
    ) in caplog.messages


def test_unused_stream_field_maps_suggests_the_closest_stream():
    settings = read_settings(
        dict(TargetKiboInventory(config={**CONFIG, "stream_field_maps": {"movement": {}}}).config)
    )
    assert settings.unused_stream_field_maps(["counts", "movements"]) == [
        "stream_field_maps['movement'] was not used: no stream 'movement' was loaded in this "
        "run (did you mean 'movements'?)."
    ]


def test_from_an_environment_variable_as_json(monkeypatch):
    value = {"movements": {"quantity": "movement_qty"}}
    monkeypatch.setenv("TARGET_KIBO_INVENTORY_STREAM_FIELD_MAPS", json.dumps(value))
    config = {k: v for k, v in CONFIG.items() if k != "stream_field_maps"}
    target = TargetKiboInventory(config=config, parse_env_config=True)
    assert target.settings.stream_field_maps == value


def test_counts_and_movements_in_one_run_through_the_cli(emulator, tmp_path):
    settings = ("stream_operations", "field_map", "stream_field_maps")
    run = run_target(emulator.config(**{k: CONFIG[k] for k in settings}), _messages(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("S1", "0001"): 7, ("S1", "0002"): 20}
    assert [r["operation"] for r in emulator.api_requests()] == ["refresh"]  # folded
