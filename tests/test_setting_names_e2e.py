"""End to end: unknown settings stop the run at start-up; unused ones are named in a warning."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.harness import TARGET, lines, record, run_in_process, run_target, schema, state


def _moves() -> list[dict]:
    return [
        schema("moves"),
        record("moves", sku="A", location_name="L", quantity=2),
        state({"bookmarks": {"moves": 1}}),
    ]


def test_a_misspelled_setting_is_refused_before_any_request_naming_the_closest(emulator, tmp_path):
    run = run_target(emulator.config(opperation="adjust"), _moves(), tmp_path)
    assert run.returncode == 1
    assert "Unknown setting 'opperation': did you mean 'operation'?" in run.stderr
    assert "Traceback" not in run.stderr
    assert emulator.requests() == []
    assert run.states == []


def test_the_input_is_not_read_when_a_setting_is_unknown(emulator, tmp_path):
    run = run_in_process(emulator.config(colour="blue"), "this is not JSON\n", tmp_path)
    assert run.returncode == 1
    error = [line for line in run.stderr.splitlines() if "Unknown setting" in line]
    assert len(error) == 1
    assert "Unknown setting 'colour'" in error[0]
    assert "--about" in error[0]
    assert "JSON" not in run.stderr


def test_every_unknown_setting_is_named_on_one_line(emulator, tmp_path):
    run = run_in_process(emulator.config(opperation="adjust", reqest_timeout=5), "", tmp_path)
    assert run.returncode == 1
    [error] = [line for line in run.stderr.splitlines() if "Unknown setting" in line]
    assert "'opperation': did you mean 'operation'?" in error
    assert "'reqest_timeout': did you mean 'request_timeout'?" in error


@pytest.mark.parametrize(
    "setting",
    [
        {"validate_records": False},
        {"flattening_enabled": False, "flattening_max_depth": 1},
        {"flattening_max_key_length": 255, "flattening_separator": "__"},
        {"stream_maps": {}, "stream_map_config": {}, "faker_config": {}},
    ],
)
def test_the_sdk_settings_are_accepted(emulator, tmp_path, run_case, setting):
    run = run_case(emulator.config(**setting), _moves(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("L", "A"): 2}


@pytest.mark.parametrize(
    ("setting", "warning"),
    [
        ({"batch_size_rows": 100}, "batch_size_rows is not used by this target"),
        ({"load_method": "overwrite"}, "load_method is not used by this target"),
        ({"add_record_metadata": True}, "add_record_metadata is not used by this target"),
    ],
)
def test_sdk_settings_this_target_drops_are_accepted_with_a_warning(
    emulator, tmp_path, run_case, setting, warning
):
    run = run_case(emulator.config(**setting), _moves(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert warning in run.stderr
    assert emulator.stock() == {("L", "A"): 2}


def test_sdk_defaults_of_dropped_settings_give_no_warning(emulator, tmp_path):
    config = emulator.config(load_method="append-only", batch_size_rows=None)
    run = run_in_process(config, _moves(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert "is not used by this target" not in run.stderr


def test_config_from_the_environment_alone_is_accepted(emulator, tmp_path):
    """`--config ENV` passes only settings: nothing the SDK adds is refused."""
    env = {**os.environ, **emulator.environment()}
    done = subprocess.run(
        [TARGET, "--config", "ENV"],
        input=lines(_moves()),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert emulator.stock() == {("L", "A"): 2}


def test_a_stream_operation_for_a_stream_that_never_came_is_named_at_the_end(emulator, tmp_path):
    config = emulator.config(stream_operations={"moves": "adjust", "counts": "refresh"})
    run = run_in_process(config, _moves(), tmp_path)
    assert run.returncode == 0, run.stderr
    [warning] = [line for line in run.stderr.splitlines() if "stream_operations" in line]
    assert (
        "stream_operations['counts'] (refresh) was not used: no stream 'counts' was loaded in "
        "this run."
    ) in warning
    assert [r["operation"] for r in emulator.api_requests()] == ["adjust"]


def _count_then_deltas(delta_stream: str) -> list[dict]:
    """Issue 17, item 2: a count of 10, then deltas +2 and +3 of another stream."""
    return [
        schema("stock"),
        record("stock", sku="A", location_name="L", quantity=10),
        state({"bookmarks": {"stock": 1}}),
        schema(delta_stream),
        record(delta_stream, sku="A", location_name="L", quantity=2),
        record(delta_stream, sku="A", location_name="L", quantity=3),
        state({"bookmarks": {"stock": 1, delta_stream: 2}}),
    ]


@pytest.mark.parametrize(
    ("stream", "hint"),
    [
        (
            "stock_movements",
            "did you mean 'stock_movement'? Fix the name, or add 'stock_movements'.",
        ),
        ("inventory_transactions", "add 'inventory_transactions' (or fix the name"),
    ],
    ids=["a typo", "a tap upgrade renamed the stream"],
)
def test_a_stream_that_stream_operations_does_not_name_is_refused_at_its_schema(
    emulator, tmp_path, run_case, stream, hint
):
    """Deltas never load as counts: the stream is refused before any of its records is sent."""
    operations = {"stock": "refresh", "stock_movement": "adjust"}
    run = run_case(
        emulator.config(stream_operations=operations), _count_then_deltas(stream), tmp_path
    )
    assert run.returncode == 1
    [error] = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert (
        f"Stream '{stream}' is not named in stream_operations, which names 'stock' (refresh), "
        f"'stock_movement' (adjust): {hint}"
    ) in error
    assert "The run stopped before any record of this stream." in error
    assert "Traceback" not in run.stderr
    assert emulator.api_requests() == []  # no delta went out as a count
    assert run.states == []  # no bookmark moved past the deltas

    fixed = {"stock": "refresh", stream: "adjust"}
    run = run_case(emulator.config(stream_operations=fixed), _count_then_deltas(stream), tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("L", "A"): 15}


def test_one_operation_needs_no_stream_names(emulator, tmp_path):
    run = run_in_process(emulator.config(operation="adjust"), _moves(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("L", "A"): 2}


def test_no_warning_when_every_stream_operation_was_used(emulator, tmp_path):
    run = run_in_process(emulator.config(stream_operations={"moves": "adjust"}), _moves(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert "stream_operations" not in run.stderr
    assert emulator.stock() == {("L", "A"): 2}


def test_stream_operations_name_streams_as_stream_maps_rename_them(emulator, tmp_path):
    """stream_operations applies to the stream a sink loads: the name after stream maps."""
    maps = {"moves": {"__alias__": "stock"}}
    config = emulator.config(stream_maps=maps, stream_operations={"moves": "adjust"})
    run = run_in_process(config, _moves(), tmp_path)
    assert run.returncode == 1
    assert (
        "Stream 'stock' is not named in stream_operations, which names 'moves' (adjust): "
        "stream_maps renames the tap's stream 'moves' to 'stock', and stream_operations names "
        "streams as stream_maps name them: name 'stock' instead of 'moves'."
    ) in run.stderr
    assert emulator.api_requests() == []  # the deltas were not sent as counts

    config = emulator.config(stream_maps=maps, stream_operations={"stock": "adjust"})
    run = run_in_process(config, _moves(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert "stream_operations" not in run.stderr
    assert [r["operation"] for r in emulator.api_requests()] == ["adjust"]
