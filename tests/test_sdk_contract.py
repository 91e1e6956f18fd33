"""The Singer SDK's private members this target relies on, checked on the installed singer-sdk.

target.py, sinks.py, reader.py and settings.py copy the SDK's record path and override its
message hooks, which reaches members the SDK does not promise to keep. pyproject.toml pins
singer-sdk to the minor series these tests cover; when the pin is raised, a member the SDK
removed or renamed fails here, by name, instead of as an override the SDK no longer calls
(behaviour silently lost) or an AttributeError in the middle of a run. Each test names the
member, where the target uses it, and the signature the target calls it with.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from singer_sdk import Target
from singer_sdk.configuration import _dict_config
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.sinks import Sink

from target_kibo_inventory.sinks import InventorySink
from target_kibo_inventory.target import TargetKiboInventory
from tests.harness import schema

HOOKS: list[tuple[type, str, list[str], str]] = [
    (Target, "_process_record_message", ["message_dict"], "target.py: the lean record path"),
    (Target, "_process_schema_message", ["message_dict"], "target.py: routes reset"),
    (Target, "_process_state_message", ["message_dict"], "target.py: the journal's resume point"),
    (Target, "_process_batch_message", ["message_dict"], "target.py: BATCH refused"),
    (Target, "_write_state_message", ["state"], "target.py: STATE with the job IDs"),
    (Target, "_handle_termination", ["signum", "frame"], "target.py: SIGTERM handler"),
    (MsgSpecReader, "_process_unknown_message", ["message_dict"], "reader.py: unknown types"),
]
"""Private SDK methods the target overrides: (SDK class, name, parameters, where). A renamed
hook would never be called, and its behaviour would be lost without an error."""

CALLED: list[tuple[type, str, list[str], str]] = [
    (Target, "_assert_sink_exists", ["stream_name"], "target.py: _route"),
    (Target, "_assert_line_requires", ["message_dict", "requires"], "target.py: _route"),
]
"""Private SDK methods the target calls: (SDK class, name, parameters, where)."""


def _parameters(function: Callable[..., Any]) -> list[str]:
    """The parameters a call must name (those after self, and without a default)."""
    parameters = list(inspect.signature(function).parameters.values())[1:]
    return [p.name for p in parameters if p.default is inspect.Parameter.empty]


@pytest.mark.parametrize(
    ("sdk_class", "name", "parameters", "where"),
    HOOKS + CALLED,
    ids=[name for _, name, _, _ in HOOKS + CALLED],
)
def test_a_private_sdk_method_the_target_relies_on_is_there(
    sdk_class: type, name: str, parameters: list[str], where: str
) -> None:
    method = inspect.getattr_static(sdk_class, name, None)
    assert callable(method), (
        f"singer-sdk's {sdk_class.__name__}.{name} is gone ({where}): the SDK was upgraded "
        "past the minor series pinned in pyproject.toml; port the target to its new hook."
    )
    assert _parameters(getattr(sdk_class, name)) == parameters, (
        f"singer-sdk's {sdk_class.__name__}.{name} now takes "
        f"{inspect.signature(getattr(sdk_class, name))}, not ({', '.join(parameters)}) ({where})"
    )


def test_the_target_overrides_each_hook_it_means_to():
    """Each hook above is defined by the target's own classes (an override the SDK calls)."""
    ours = {
        Target: TargetKiboInventory,
        MsgSpecReader: TargetKiboInventory.message_reader_class,
    }
    for sdk_class, name, _, where in HOOKS:
        assert name in vars(ours[sdk_class]), f"{name} is no longer overridden ({where})"


def test_the_target_env_var_prefix():
    """`Target._env_var_prefix` (target.py: settings from environment variables)."""
    prefix = inspect.getattr_static(Target, "_env_var_prefix", None)
    assert prefix is not None, "singer-sdk's Target._env_var_prefix is gone (target.py __init__)"
    assert TargetKiboInventory._env_var_prefix == "TARGET_KIBO_INVENTORY_"


def test_the_sdk_environment_config_parser():
    """`singer_sdk.configuration._dict_config.parse_environment_config(schema, prefix)`
    (settings.py: env_config reads the variables through it, as text)."""
    parse = getattr(_dict_config, "parse_environment_config", None)
    assert callable(parse), "singer-sdk's _dict_config.parse_environment_config is gone"
    assert list(inspect.signature(parse).parameters)[:2] == ["config_schema", "prefix"]
    schema_ = {"properties": {"tenant_id": {"type": "string"}}}
    assert parse(schema_, "KIBO_CONTRACT_TEST_") == {}


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TargetKiboInventory:
    """A target built in process (it sends nothing until it reads input)."""
    monkeypatch.chdir(tmp_path)
    return TargetKiboInventory(config={"tenant_id": "t", "api_key": "k"})


def test_the_target_instance_attributes(target: TargetKiboInventory):
    """`Target._sinks_active` (target.py: _route, process_endofpipe), `Target._latest_state`
    (target.py: STATE, the journal, the stop message) and the property
    `Target._max_record_age_in_minutes` (target.py: _drain_if_due)."""
    assert target._sinks_active == {}, "singer-sdk's Target._sinks_active is gone"
    assert target._latest_state is None, "singer-sdk's Target._latest_state is gone"
    assert isinstance(inspect.getattr_static(Target, "_max_record_age_in_minutes"), property), (
        "singer-sdk's Target._max_record_age_in_minutes is no longer a property"
    )
    assert 0 <= target._max_record_age_in_minutes < 1
    target._process_schema_message(schema("s"))
    assert isinstance(target._sinks_active["s"], InventorySink)
    target._process_state_message({"type": "STATE", "value": {"b": 1}})
    assert target._latest_state == {"b": 1}


def test_the_sink_validator(target: TargetKiboInventory):
    """`Sink._validator`, set from `get_validator()` (sinks.py: _check validates with it)."""
    target._process_schema_message(schema("s"))
    sink = target._sinks_active["s"]
    assert "_validator" in vars(sink), "singer-sdk's Sink._validator is gone (sinks.py _check)"
    assert sink._validator is not None
    assert type(sink._validator) is type(sink.get_validator())


def test_the_sink_preprocess_record_hook_is_called(target: TargetKiboInventory):
    """`Sink.preprocess_record(record, context)`: the lean record path keeps the SDK's hook."""
    assert _parameters(Sink.preprocess_record) == ["record", "context"]
    target._process_schema_message(schema("s"))
    sink = target._sinks_active["s"]
    seen: list[dict[str, Any]] = []

    def preprocess(record: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        seen.append(record)
        return {**record, "quantity": 9}

    sink.preprocess_record = preprocess  # type: ignore[method-assign]
    target._process_record_message(
        {
            "type": "RECORD",
            "stream": "s",
            "record": {"sku": "A", "location_name": "L", "quantity": 1},
        },
    )
    assert seen == [{"sku": "A", "location_name": "L", "quantity": 1}]
    assert target.loader.batcher.buffered_items == 1
    [request] = target.loader.batcher.drain()
    assert b'"quantity":9' in request.encoded_items
