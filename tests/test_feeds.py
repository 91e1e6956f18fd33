"""Delta feeds: an adjust stream whose tap bookmarks a file's modification time (it sends a changed
file again whole, so every movement in it would be applied again) gets a warning at its SCHEMA,
once a run. In process."""

from __future__ import annotations

import io
import logging

from target_kibo_inventory.target import TargetKiboInventory
from tests.harness import lines, record, schema
from tests.test_pipeline import Recorder

CONFIG = {
    "tenant_id": "t",
    "api_key": "k",
    "api_secret": "secret-0123456789",
    "stream_operations": {"counts": "refresh", "movements": "adjust"},
}


def _schema(stream: str, *bookmarks: str) -> dict:
    return {**schema(stream), "bookmark_properties": list(bookmarks)}


def _warnings(tmp_path, monkeypatch, caplog, messages: list[dict], **config) -> list[str]:
    monkeypatch.chdir(tmp_path)
    recorder = Recorder(lambda request: b'{"jobID": 1}')
    target = TargetKiboInventory(config={**CONFIG, **config}, client=recorder)
    with caplog.at_level(logging.WARNING):
        target.listen(io.StringIO(lines(messages)))
    return [m for m in caplog.messages if "sent as adjust" in m]


def test_an_adjust_stream_read_from_whole_files_is_warned_about_once(tmp_path, monkeypatch, caplog):
    move = record("movements", sku="A", location_name="L", quantity=-2)
    messages = [_schema("movements", "_sdc_last_modified"), move]
    warnings = _warnings(tmp_path, monkeypatch, caplog, messages * 2)
    assert warnings == [
        "Stream 'movements' is sent as adjust (signed deltas) and its tap bookmarks a file's "
        "modification time (_sdc_last_modified): when a file the tap read before changes (a "
        "line appended), the tap sends the whole file again and every movement in it is "
        "applied again. Write each batch of movements to a new file that never changes, read "
        'with a glob, or read them from a table with an incremental key (README, "Delta '
        'feeds").'
    ]


def test_the_stream_name_is_the_one_after_stream_maps(tmp_path, monkeypatch, caplog):
    messages = [
        _schema("moves_csv", "_sdc_last_modified"),
        record("moves_csv", sku="A", location_name="L", quantity=-2),
    ]
    maps = {"moves_csv": {"__alias__": "movements"}}
    [warning] = _warnings(tmp_path, monkeypatch, caplog, messages, stream_maps=maps)
    assert warning.startswith("Stream 'movements' is sent as adjust")


def test_counts_and_incremental_keys_get_no_warning(tmp_path, monkeypatch, caplog):
    messages = [
        _schema("counts", "_sdc_last_modified"),  # refresh: sending it again changes nothing
        record("counts", sku="A", location_name="L", quantity=5),
        _schema("movements", "movement_id"),
        record("movements", sku="A", location_name="L", quantity=-2),
    ]
    assert _warnings(tmp_path, monkeypatch, caplog, messages) == []
