"""Unit tests of the start-up checks of setting names and of stream_operations at the end."""

from __future__ import annotations

import pytest

from target_kibo_inventory.errors import SettingsError
from target_kibo_inventory.files import append_problem
from target_kibo_inventory.settings.sources import (
    check_setting_names,
    env_config,
    ignored_setting_warnings,
)
from target_kibo_inventory.target import TargetKiboInventory

BASE = {"tenant_id": "t1", "api_key": "key-0123456789", "api_secret": "secret-0123456789"}
KNOWN = ["operation", "request_timeout", "stream_maps"]


def test_known_names_pass():
    check_setting_names({"operation": "adjust", "stream_maps": {}}, KNOWN)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("opperation", "Unknown setting 'opperation': did you mean 'operation'?"),
        ("Operation", "Unknown setting 'Operation': did you mean 'operation'?"),
        ("request-timeout", "Unknown setting 'request-timeout': did you mean 'request_timeout'?"),
        ("zzz", "Unknown setting 'zzz': `target-kibo-inventory --about` lists them."),
    ],
)
def test_an_unknown_name_is_refused_with_the_closest_known_one(name, message):
    with pytest.raises(SettingsError) as error:
        check_setting_names({name: 1}, KNOWN)
    assert str(error.value) == message


def test_ignored_sdk_settings_warn_only_when_set_to_something_else_than_the_default():
    ignored = {"load_method": {"default": "append-only"}, "batch_size_rows": {}}
    assert ignored_setting_warnings({"load_method": "append-only"}, ignored) == []
    assert ignored_setting_warnings({"batch_size_rows": None}, ignored) == []
    [warning] = ignored_setting_warnings({"load_method": "upsert"}, ignored)
    assert warning.startswith("load_method is not used by this target: ")


def test_the_known_names_are_the_schema_and_every_sdk_setting():
    target = TargetKiboInventory(
        config={**BASE, "batch_size_rows": 5, "load_method": "upsert", "add_record_metadata": True}
    )
    assert target.config["batch_size_rows"] == 5
    with pytest.raises(Exception, match="Unknown setting 'batch_size_row'"):
        TargetKiboInventory(config={**BASE, "batch_size_row": 5})


def test_unused_stream_operations():
    target = TargetKiboInventory(
        config={**BASE, "stream_operations": {"moves": "adjust", "counts": "refresh"}}
    )
    unused = target.settings.unused_stream_operations
    assert unused(["moves", "counts", "other"]) == []
    unused_counts = "stream_operations['counts'] (refresh) was not used: no stream 'counts' "
    assert unused(["moves"]) == [unused_counts + "was loaded in this run."]
    assert unused(["count", "moves"]) == [
        unused_counts + "was loaded in this run (did you mean 'count'?)."
    ]


SCHEMA = {
    "properties": {
        "count": {"type": ["integer", "null"]},
        "seconds": {"type": ["number", "null"]},
        "flag": {"type": ["boolean", "null"]},
        "mapping": {"type": ["object", "null"]},
        "names": {"type": ["array", "null"], "items": {"type": "string"}},
        "text": {"type": ["string", "null"]},
        "seed": {"oneOf": [{"type": ["number"]}, {"type": ["string"]}]},
        "token": {"type": ["object"], "secret": True},
    }
}


def _env(monkeypatch, **values: str) -> dict:
    for name, text in values.items():
        monkeypatch.setenv(f"T_{name.upper()}", text)
    return env_config(SCHEMA, "T_")


def test_environment_values_take_their_settings_types(monkeypatch):
    config = _env(
        monkeypatch,
        count="12",
        seconds="2.5",
        flag="Yes",
        mapping='{"a": 1}',
        names='["x", "y"]',
        text="12",
        seed="12",
    )
    assert config == {
        "count": 12,
        "seconds": 2.5,
        "flag": True,
        "mapping": {"a": 1},
        "names": ["x", "y"],
        "text": "12",
        "seed": "12",
    }
    assert _env(monkeypatch, flag="off", seconds="30") == {**config, "flag": False, "seconds": 30}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("count", "1.0", "Setting 'count' (T_COUNT) must be an integer, not '1.0'."),
        ("count", "", "Setting 'count' (T_COUNT) must be an integer, not ''."),
        ("seconds", "Infinity", "Setting 'seconds' (T_SECONDS) must be a number, not 'Infinity'."),
        ("seconds", "true", "Setting 'seconds' (T_SECONDS) must be a number, not 'true'."),
        ("flag", "2", "Setting 'flag' (T_FLAG) must be true or false, not '2'."),
        ("mapping", "[1]", "Setting 'mapping' (T_MAPPING) must be a JSON object, not '[1]'."),
        ("names", "x,y", "Setting 'names' (T_NAMES) must be a JSON array, not 'x,y'."),
        ("token", "s3cr3t-value", "Setting 'token' (T_TOKEN) must be a JSON object."),
    ],
)
def test_environment_values_of_the_wrong_type_are_refused(monkeypatch, name, text, message):
    with pytest.raises(SettingsError) as error:
        _env(monkeypatch, **{name: text})
    assert str(error.value) == message


def test_dead_letter_path_problems(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("")
    assert append_problem("dead.jsonl") is None
    assert append_problem("file") is None
    assert append_problem("folder/dead.jsonl") is None
    assert append_problem("") == "is empty"
    assert append_problem("folder") == "is a directory"
    assert append_problem("file/x") == "is in 'file', which is not a directory"
    assert append_problem("a/b/x") == "is in a directory that does not exist ('a/b')"
    monkeypatch.setattr("os.access", lambda path, mode: False)
    assert append_problem("file") == "is not writable"
    assert append_problem("folder/dead.jsonl") == "is in 'folder', which is not writable"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"]
