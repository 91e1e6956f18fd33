"""The Singer SDK's private members this target relies on, checked on the installed singer-sdk.

target.py, sinks.py, reader.py and settings.py keep a lean copy of the SDK's record path and
override its message hooks, which reaches members the SDK does not promise to keep.
pyproject.toml pins singer-sdk to the minor series these tests cover; when the pin is raised, a
member the SDK removed or renamed fails here, by name and with where the target uses it,
instead of as an override the SDK no longer calls (behaviour silently lost) or an
AttributeError in the middle of a run. The last test keeps this list complete: a private SDK
member newly used in the package fails it until it has its test here.
"""

from __future__ import annotations

import inspect
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from singer_sdk import Target
from singer_sdk.configuration import _dict_config
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.sinks import Sink

import target_kibo_inventory
from target_kibo_inventory.sinks import InventorySink
from target_kibo_inventory.target import TargetKiboInventory
from tests.harness import schema

PACKAGE = Path(target_kibo_inventory.__file__).parent

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

ATTRIBUTES = {
    "_sinks_active": "target.py: _route, process_endofpipe",
    "_latest_state": "target.py: _process_state_message, process_endofpipe, the stop message",
    "_max_record_age_in_minutes": "target.py: _drain_if_due",
    "_env_var_prefix": "target.py: __init__, settings from environment variables",
    "_validator": "sinks.py: _check",
}
"""Private SDK attributes the package reads (name → where); each has its own test below."""

PRIVATE_IMPORTS = {"singer_sdk.configuration._dict_config": "settings/sources.py: env_config"}
"""Private SDK modules the package imports from (module → where)."""


def _parameters(function: Callable[..., Any]) -> list[str]:
    """The parameters a call must name (those after self, and without a default)."""
    parameters = list(inspect.signature(function).parameters.values())[1:]
    return [p.name for p in parameters if p.default is inspect.Parameter.empty]


def _gone(owner: str, name: str) -> str:
    """The failure message for a member the SDK no longer has."""
    return (
        f"singer-sdk's {owner}.{name} is gone or changed ({ATTRIBUTES.get(name, '')}): the SDK "
        "was upgraded past the minor series pinned in pyproject.toml; port the target."
    )


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


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TargetKiboInventory]:
    """A target built in process (it sends nothing until it reads input).

    The SDK installs the target's SIGINT/SIGTERM handler as it is built: pytest's are put back.
    """
    monkeypatch.chdir(tmp_path)
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield TargetKiboInventory(config={"tenant_id": "t", "api_key": "k", "api_secret": "s-0123"})
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def test_the_sdk_installs_the_termination_hook(target: TargetKiboInventory):
    """`_handle_termination` is what the SDK installs for SIGTERM and SIGINT."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        assert signal.getsignal(signum) == target._handle_termination, (
            f"singer-sdk no longer installs Target._handle_termination for {signum.name} "
            "(target.py: SIGTERM handler): a stop would no longer send the buffered items "
            "and write the state"
        )


def test_the_target_sinks_active(target: TargetKiboInventory):
    """`Target._sinks_active`: stream alias → sink, filled by SCHEMA messages."""
    assert vars(target).get("_sinks_active") == {}, _gone("Target", "_sinks_active")
    target._process_schema_message(schema("s"))
    assert isinstance(target._sinks_active.get("s"), InventorySink), _gone(
        "Target", "_sinks_active"
    )


def test_the_target_latest_state(target: TargetKiboInventory):
    """`Target._latest_state`: None until the tap's first STATE, then its value."""
    assert "_latest_state" in vars(target), _gone("Target", "_latest_state")
    assert target._latest_state is None, _gone("Target", "_latest_state")
    target._process_state_message({"type": "STATE", "value": {"b": 1}})
    assert target._latest_state == {"b": 1}, _gone("Target", "_latest_state")


def test_the_target_max_record_age_in_minutes(target: TargetKiboInventory):
    """`Target._max_record_age_in_minutes`: minutes since the last full drain (a property)."""
    age = inspect.getattr_static(Target, "_max_record_age_in_minutes", None)
    assert isinstance(age, property), _gone("Target", "_max_record_age_in_minutes")
    assert 0 <= target._max_record_age_in_minutes < 1, _gone("Target", "_max_record_age_in_minutes")


def test_the_target_env_var_prefix():
    """`Target._env_var_prefix`: the prefix of the settings' environment variables."""
    prefix = inspect.getattr_static(Target, "_env_var_prefix", None)
    assert prefix is not None, _gone("Target", "_env_var_prefix")
    assert TargetKiboInventory._env_var_prefix == "TARGET_KIBO_INVENTORY_", _gone(
        "Target", "_env_var_prefix"
    )


def test_the_sink_validator(target: TargetKiboInventory):
    """`Sink._validator`, set from `get_validator()` as the sink is built."""
    target._process_schema_message(schema("s"))
    sink = target._sinks_active["s"]
    assert "_validator" in vars(sink), _gone("Sink", "_validator")
    assert sink._validator is not None, _gone("Sink", "_validator")
    assert type(sink._validator) is type(sink.get_validator()), _gone("Sink", "_validator")


def test_the_sdk_environment_config_parser():
    """`singer_sdk.configuration._dict_config.parse_environment_config(schema, prefix)`."""
    where = PRIVATE_IMPORTS["singer_sdk.configuration._dict_config"]
    parse = getattr(_dict_config, "parse_environment_config", None)
    assert callable(parse), f"singer-sdk's _dict_config.parse_environment_config is gone ({where})"
    assert list(inspect.signature(parse).parameters)[:2] == ["config_schema", "prefix"], (
        f"singer-sdk's _dict_config.parse_environment_config now takes "
        f"{inspect.signature(parse)}, not (config_schema, prefix, ...) ({where})"
    )
    schema_ = {"properties": {"tenant_id": {"type": "string"}}}
    assert parse(schema_, "KIBO_CONTRACT_TEST_") == {}


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


def _private_sdk_members(text: str, sdk_class: type) -> set[str]:
    """`_names` a module reads from or overrides on its SDK base class.

    A `self._name` (or `super()._name`) the module neither defines nor assigns comes from
    the SDK; a `def _name` the SDK class also has is an override.
    """
    used = set(re.findall(r"\b(?:self|super\(\)|target|sink)\.(_[A-Za-z]\w*)", text))
    defined = set(re.findall(r"def (_\w+)", text))
    defined |= set(re.findall(r"self\.(_\w+)(?::[^=\n]+)? = ", text))
    return {
        name
        for name in used | defined
        if not name.startswith("__") and (hasattr(sdk_class, name) or name not in defined)
    }


def test_every_private_sdk_member_the_package_uses_has_a_test_here():
    """A private SDK member newly used in the package fails here until it is listed above."""
    covered = {name for _, name, _, _ in HOOKS + CALLED} | set(ATTRIBUTES)
    for sdk_class, module in (
        (Target, "target.py"),
        (Sink, "sinks.py"),
        (MsgSpecReader, "reader.py"),
    ):
        used = _private_sdk_members((PACKAGE / module).read_text(), sdk_class)
        assert used <= covered, (
            f"{module} uses singer-sdk's private {sdk_class.__name__} members "
            f"{sorted(used - covered)}: add a test for each to tests/test_sdk_contract.py"
        )
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        found = set(re.findall(r"\b(singer_sdk(?:\.\w+)*)\b", text))
        for module, names in re.findall(r"from (singer_sdk[\w.]*) import (\([^)]*\)|.*)", text):
            found |= {f"{module}.{name}" for name in re.findall(r"\b\w+\b", names)}
        for private in sorted(f for f in found if re.search(r"(^|\.)_", f)):
            assert any(private.startswith(known) for known in PRIVATE_IMPORTS), (
                f"{path.relative_to(PACKAGE)} imports singer-sdk's private {private}: add a "
                "test for what it uses to tests/test_sdk_contract.py"
            )
