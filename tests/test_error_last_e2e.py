"""After a fatal error the target reads and drops the rest of its input for a bounded time, so
that a small tap ends cleanly (no broken pipe) and the target's ERROR line is the last it
writes; a tap that goes on longer is not waited for. The real CLI, a real tap process piped
into it, as `tap | target-kibo-inventory` runs them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from target_kibo_inventory.reader import DISCARD_SECONDS
from tests.harness import TARGET, output_of, record, schema

RECORDS = 20_000
"""About 1.5 MB of RECORD lines: many times a pipe's buffer, so the tap blocks on a reader."""

TAP = textwrap.dedent(
    """
    import json, sys
    print(json.dumps(SCHEMA), flush=True)
    line = LINE
    for i in range(COUNT):
        sys.stdout.write(line % i)
    sys.stdout.flush()
    print("tap done", file=sys.stderr)
    """
)
ENDLESS = "\nwhile True:\n    sys.stdout.write(line % 0)\n"


def _pipeline(tmp_path, config: dict, tap_code: str) -> tuple[subprocess.Popen, subprocess.Popen]:
    """`tap | target-kibo-inventory --config config.json`, started."""
    (tmp_path / "config.json").write_text(json.dumps(config))
    line = json.dumps(record("stock", sku="S%d", location_name="L", quantity=1)) + "\n"
    code = tap_code.replace("SCHEMA", repr(schema("stock"))).replace("COUNT", str(RECORDS))
    code = code.replace("LINE", repr(line))
    tap = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    target = subprocess.Popen(
        [TARGET, "--config", "config.json"],
        stdin=tap.stdout,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        text=True,
    )
    tap.stdout.close()  # the target holds the read end now
    return tap, target


def _stderr_of_tap(tap: subprocess.Popen) -> str:
    with tap:
        return tap.stderr.read()


def test_a_small_tap_ends_cleanly_and_the_error_is_the_last_line(emulator, tmp_path):
    tap, target = _pipeline(tmp_path, emulator.config(api_key="wrong-key"), TAP)
    assert target.wait(timeout=120) == 1
    assert tap.wait(timeout=120) == 0
    _, target_err = output_of(target)
    tap_err = _stderr_of_tap(tap)
    assert tap_err.strip() == "tap done"  # no BrokenPipeError
    last = target_err.strip().splitlines()[-1]
    assert "ERROR" in last, target_err
    assert "Kibo refused the tenant or API key (HTTP 401)" in last
    assert "Traceback" not in target_err
    assert emulator.api_requests() == []


def test_a_mapping_error_lets_the_small_tap_end_too(emulator, tmp_path):
    config = emulator.config(field_map={"quantity": "qty_on_hand"})
    tap, target = _pipeline(tmp_path, config, TAP)
    assert target.wait(timeout=120) == 1
    assert tap.wait(timeout=120) == 0
    _, target_err = output_of(target)
    tap_err = _stderr_of_tap(tap)
    assert tap_err.strip() == "tap done"
    last = target_err.strip().splitlines()[-1]
    assert "ERROR" in last
    assert "Stream 'stock' cannot be loaded" in last
    assert "'qty_on_hand' (field_map.quantity)" in last


@pytest.mark.slow  # the rest of the input is waited for 5 s (DISCARD_SECONDS)
def test_a_tap_that_goes_on_is_not_waited_for(emulator, tmp_path):
    """The target stops reading after DISCARD_SECONDS, says so, and ends with its error; the
    endless tap then meets the closed pipe (and is stopped here)."""
    tap, target = _pipeline(tmp_path, emulator.config(api_key="wrong-key"), TAP + ENDLESS)
    try:
        assert target.wait(timeout=120) == 1
    finally:
        tap.kill()
        _stderr_of_tap(tap)
    _, target_err = output_of(target)
    *_, warning, error = target_err.strip().splitlines()
    assert f"The input had not ended {DISCARD_SECONDS:g} s after the error below" in warning
    assert "WARNING" in warning
    assert "ERROR" in error
    assert "Kibo refused the tenant or API key" in error
