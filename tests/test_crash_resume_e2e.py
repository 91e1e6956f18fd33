"""End to end: killed at any point and resumed from its last state, the stock equals a clean run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.harness import TARGET
from tests.resumable_tap import record, stream_of

pytestmark = pytest.mark.slow  # sleeps no fixed time, but waits on the emulator and the tap

TAP = [sys.executable, str(Path(__file__).with_name("resumable_tap.py"))]
RECORDS = 12000
PAUSES = "2000,4000,6000,8000,10000"  # the tap waits there for the target's drain and STATE


def _expected(mode: str, n: int = RECORDS, skus: int = 0) -> dict[tuple[str, str], int]:
    """The stock of applying records 0..n-1 one at a time (counts set, deltas add)."""
    stock: Counter[tuple[str, str]] = Counter()
    for i in range(n):
        r = record(i, mode, skus)
        key = (r["location_name"], r["sku"])
        if stream_of(i, mode) == "moves" or mode == "adjust":
            stock[key] += r["quantity"]
        else:
            stock[key] = r["quantity"]
    return dict(stock)


class Pipeline:
    """`resumable_tap.py | target-kibo-inventory`, run in one working directory.

    `name` prefixes the pipeline's own files (config, state, output), so that several
    pipelines (partitions of one feed) can share the working directory.
    """

    def __init__(
        self,
        workdir: Path,
        config: dict,
        mode: str,
        *tap_args: str,
        name: str = "",
        records: int = RECORDS,
        env: dict | None = None,
        target: tuple[str, ...] = (TARGET,),
    ) -> None:
        self.files = {
            f: workdir / f"{name}{f}" for f in ("config.json", "state.json", "target.out")
        }
        self.files["config.json"].write_text(json.dumps(config))
        state = self.files["state.json"]
        resume = ["--state", str(state)] if state.exists() else []
        self.out = self.files["target.out"].open("w")
        self.err = (workdir / f"{name}target.err").open("w")
        self.marker = workdir / f"{name}tap-hanging"
        self.marker.unlink(missing_ok=True)
        marker = ["--hang-marker", str(self.marker)]
        marker += ["--target-output", str(self.files["target.out"])]
        with (workdir / f"{name}tap.err").open("a") as tap_err:
            self.tap = subprocess.Popen(
                [*TAP, "--records", str(records), "--mode", mode, *resume, *marker, *tap_args],
                stdout=subprocess.PIPE,
                stderr=tap_err,
            )
        self.target = subprocess.Popen(
            [*target, "--config", self.files["config.json"].name],
            stdin=self.tap.stdout,
            stdout=self.out,
            stderr=self.err,
            cwd=workdir,
            env={**os.environ, **(env or {})},
        )
        self.tap.stdout.close()
        self.workdir = workdir
        self.name = name

    def wait_until_idle(self, emulator, state: int, stock: dict | None = None) -> None:
        """Until the tap hangs and the target has sent everything it received: it wrote the
        tap's last STATE (`state`; the drain that writes it sends every buffered item first),
        no request is in flight, and the emulator holds `stock` (with distinct items: that of
        the records before the hang)."""
        while not self.marker.exists():
            assert self.target.poll() is None, "the target stopped early"
            time.sleep(0.05)
        _until(
            lambda: _states(self.files["target.out"])[-1:] == [state],
            f"the target wrote the STATE of {state}",
            self.target,
        )
        _until(
            lambda: (
                _none_in_flight(emulator)
                and (stock is None or _nonzero(emulator.stock()) == _nonzero(stock))
            ),
            "the target sent what it received before the tap hung",
            self.target,
        )

    def kill(self, sig: int = signal.SIGKILL) -> int:
        self.target.send_signal(sig)
        code = self.target.wait(timeout=60)
        self.tap.kill()
        self.tap.wait()
        return code

    def wait(self) -> int:
        code = self.target.wait(timeout=300)
        self.tap.wait(timeout=30)
        return code

    def finish(self, resume_from: int = -1) -> tuple[list[dict], str]:
        """The states the target wrote; the last one (or the one `resume_from` picks) becomes
        the next run's tap state, as Meltano keeps the last state it read."""
        self.out.close()
        self.err.close()
        lines = self.files["target.out"].read_text().splitlines()
        states = [json.loads(line) for line in lines if line.strip()]
        if states:
            self.files["state.json"].write_text(json.dumps(states[resume_from]))
        return states, (self.workdir / f"{self.name}target.err").read_text()


def _bookmark(workdir: Path) -> int:
    """The position the next run resumes from (0: from the start)."""
    state = workdir / "state.json"
    return json.loads(state.read_text())["bookmarks"]["stock"]["position"] if state.exists() else 0


def _nonzero(stock: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """The stock's rows but those at 0 (a net 0 of movements sends nothing: no row)."""
    return {key: quantity for key, quantity in stock.items() if quantity}


def _none_in_flight(emulator) -> bool:
    return emulator.get("/emulator/health")["in_flight"] == 0


def _until(condition, what: str, target: subprocess.Popen | None = None) -> None:
    """Poll until `condition()` holds (a state the test waits for, never a fixed time)."""
    deadline = time.monotonic() + 120
    while not condition():
        assert target is None or target.poll() is None, f"the target stopped before: {what}"
        assert time.monotonic() < deadline, f"not within 120 s: {what}"
        time.sleep(0.02)


def _wait_until_landed(emulator) -> None:
    """Until no request is in flight (those of a killed run land too)."""
    _until(lambda: _none_in_flight(emulator), "no request in flight")


def _config(emulator, mode: str) -> dict:
    return emulator.config(
        operation=mode,
        refresh_batch_items=1000,
        drain_interval_seconds=1,
        max_parallel_requests=2,
    )


def _states(output: Path) -> list[int]:
    """The positions of the STATE messages the running target wrote so far (whole lines)."""
    text = output.read_text()
    lines = text[: text.rfind("\n") + 1].splitlines()
    return [json.loads(line)["bookmarks"]["stock"]["position"] for line in lines if line.strip()]


def _kill_at(run: Pipeline, emulator, moment: str, position: int) -> None:
    """Kill the run at a moment told by a signal, never by the time.

    "state": right after it wrote the STATE of `position` (between that STATE and the next
    drain). "sending": while the first request after that STATE is in flight (a drain's, or
    a full one while the tap streams), its answer slowed by the emulator; no later STATE may
    be out yet.
    """
    while position not in _states(run.files["target.out"]):
        assert run.target.poll() is None, "the target stopped early"
        time.sleep(0.01)
    if moment == "sending":
        while emulator.get("/emulator/health")["in_flight"]:  # an earlier run's, landing late
            time.sleep(0.01)
        emulator.faults(latency=2)
        while emulator.get("/emulator/health")["in_flight"] == 0:
            assert run.target.poll() is None, "the target stopped early"
            time.sleep(0.01)
    run.kill()
    emulator.faults(latency=0)


def _landed_before(emulator, position: int) -> list[int]:
    """The records before `position` whose counts are not in the stock (none: all landed)."""
    stock = emulator.stock()
    missing = []
    for i in range(position):
        r = record(i, "refresh")
        if stock.get((r["location_name"], r["sku"])) != r["quantity"]:
            missing.append(i)
    return missing


@pytest.mark.parametrize(
    ("pauses", "kills"),
    [
        # right after the first STATE; then in the requests of the resumed run's second drain
        (PAUSES, [("state", 2000), ("sending", 4000)]),
        # in a full request while the tap streams; then in the resumed run's second drain
        ("4000,8000,10000", [("sending", 4000), ("sending", 8000)]),
    ],
    ids=["after-a-state-then-sending-a-drain", "sending-mid-stream-then-a-drain"],
)
def test_refresh_killed_at_any_moment_and_resumed_lands_the_clean_stock(
    emulator, tmp_path, pauses, kills
):
    """Each SKU comes once, so nothing a killed run lost is hidden by a later copy. Each run
    is killed at a moment the target signals (a STATE written, a request in flight), resumes
    from the last STATE it wrote, and every record before that STATE landed."""
    config = _config(emulator, "refresh")
    tap = ("--state-every", "2000", "--pause-at", pauses)  # STATEs at 2000, 4000, ... only
    resumed_from = []
    for moment, position in kills:
        run = Pipeline(tmp_path, config, "refresh", *tap)
        _kill_at(run, emulator, moment, position)
        run.finish()
        resumed_from.append(_bookmark(tmp_path))
        assert resumed_from[-1] == position, f"killed {moment} {position}: {resumed_from}"
        lost = _landed_before(emulator, position)
        assert not lost, f"killed {moment} {position}: {len(lost)} records before it lost"
    last = Pipeline(tmp_path, config, "refresh")
    assert last.wait() == 0, last.finish()[1][-3000:]
    last.finish()
    _wait_until_landed(emulator)  # the requests in flight at a kill land too
    stock = emulator.stock()
    print(
        f"\n[refresh crash] killed {kills}, resumed from {resumed_from}; "
        f"{len(emulator.api_requests())} requests; stock equals a clean run: "
        f"{stock == _expected('refresh')}"
    )
    assert stock == _expected("refresh")


@pytest.mark.parametrize("hang_at", [[1700], [3500, 7100], [2999, 6000, 9001, 11999]])
def test_adjust_killed_between_requests_and_resumed_applies_every_delta_once(
    emulator, tmp_path, hang_at
):
    """Each run hangs at a record, sends what it received, and is killed: it resumes from the
    tap's last STATE (every 500 records), and the deltas it applied past that STATE (none at
    3500 and 6000) come again from the tap, to be skipped by the next run."""
    config = _config(emulator, "adjust")
    resumed_from = []
    for position in hang_at:
        hang = ("--hang-at", str(position))
        run = Pipeline(tmp_path, config, "adjust", "--pause-at", PAUSES, *hang)
        run.wait_until_idle(emulator, position // 500 * 500, _expected("adjust", position))
        run.kill()
        run.finish()
        resumed_from.append(_bookmark(tmp_path))
        assert resumed_from[-1] == position // 500 * 500, resumed_from
        assert emulator.stock() == _expected("adjust", position)  # applied past the STATE
    last = Pipeline(tmp_path, config, "adjust")
    code = last.wait()
    _, stderr = last.finish()
    assert code == 0, stderr[-3000:]
    stock = emulator.stock()
    applied = sum(j["itemCount"] for j in emulator.jobs())
    print(
        f"\n[adjust crash] killed at records {hang_at}, resumed from {resumed_from}; "
        f"{applied} deltas applied for {RECORDS} records; exact: {stock == _expected('adjust')}"
    )
    assert applied == RECORDS
    assert stock == _expected("adjust")
    assert not (tmp_path / f"kibo-inventory-journal-{emulator.tenant}").exists()


@pytest.mark.parametrize("hang_at", [[1501], [3500, 7101], [2999, 6000, 9001]])
def test_interleaved_repeated_counts_and_moves_killed_and_resumed_land_the_one_by_one_stock(
    emulator, tmp_path, hang_at
):
    """Counts and movements of 150 items alternate (collapsed and folded); killed between
    requests and resumed, the stock is that of applying every record one at a time."""
    config = {
        **_config(emulator, "refresh"),
        "stream_operations": {"counts": "refresh", "moves": "adjust"},
    }
    repeats = ("--skus", "150")
    for position in hang_at:
        hang = ("--hang-at", str(position))
        run = Pipeline(tmp_path, config, "mixed", "--pause-at", PAUSES, *hang, *repeats)
        run.wait_until_idle(emulator, position // 500 * 500)  # items repeat: no stock to wait for
        run.kill()
        run.finish()
    last = Pipeline(tmp_path, config, "mixed", *repeats)
    code = last.wait()
    _, stderr = last.finish()
    assert code == 0, stderr[-3000:]
    items = sum(j["itemCount"] for j in emulator.jobs())
    print(f"\n[mixed crash] killed at {hang_at}: {items} items sent for {RECORDS} records")
    assert _nonzero(emulator.stock()) == _nonzero(_expected("mixed", skus=150))  # a net 0: no row
    assert items < RECORDS  # collapsed and folded


def _kill_while_an_adjust_is_in_flight(emulator, workdir: Path) -> dict:
    """Run adjusts one request at a time, slowed by the emulator; kill during the first."""
    config = {**_config(emulator, "adjust"), "max_parallel_requests": 1}
    emulator.faults(latency=3)
    run = Pipeline(workdir, config, "adjust")
    while emulator.get("/emulator/health")["in_flight"] == 0:
        assert run.target.poll() is None, "the target stopped before its first request"
        time.sleep(0.05)
    run.kill()
    run.finish()
    emulator.faults(latency=0)
    return config


def test_adjust_killed_while_a_request_is_in_flight_stops_at_resume(emulator, tmp_path):
    config = _kill_while_an_adjust_is_in_flight(emulator, tmp_path)
    resumed = Pipeline(tmp_path, config, "adjust")
    assert resumed.wait() != 0
    _, stderr = resumed.finish()
    found = re.search(r"sending an adjust of 1000 item\(s\) at '([^']+)' when it stopped", stderr)
    assert found, stderr[-3000:]
    assert "it may or may not have been applied" in stderr
    _wait_until_landed(emulator)
    [job] = emulator.jobs()  # the in-flight one, applied after the crash; nothing more
    assert job["status"] == "SUCCESS"
    assert found.group(1) == job["locationCode"]

    # The operator checks Kibo, finds the job applied, and says so for that incident.
    incident = re.search(r'journal_resolve: \{"(\w+)": "applied"\}', stderr).group(1)
    resolved = Pipeline(tmp_path, {**config, "journal_resolve": {incident: "applied"}}, "adjust")
    assert resolved.wait() == 0, resolved.finish()[1][-3000:]
    resolved.finish()
    assert sum(j["itemCount"] for j in emulator.jobs()) == RECORDS  # each delta once
    assert emulator.stock() == _expected("adjust")


def test_at_least_once_resume_after_an_in_flight_adjust(emulator, tmp_path):
    config = _kill_while_an_adjust_is_in_flight(emulator, tmp_path)
    at_least_once = Pipeline(tmp_path, {**config, "adjust_retry_ambiguous": True}, "adjust")
    assert at_least_once.wait() == 0, at_least_once.finish()[1][-3000:]
    at_least_once.finish()
    _wait_until_landed(emulator)  # the interrupted run's request lands, late
    assert sum(j["itemCount"] for j in emulator.jobs()) == RECORDS + 1000  # sent twice


def test_sigterm_sends_the_buffer_writes_the_state_and_exits_non_zero(emulator, tmp_path):
    config = _config(emulator, "refresh")
    run = Pipeline(tmp_path, config, "refresh", "--hang-at", "4321")
    run.wait_until_idle(emulator, 4000, _expected("refresh", 4321))
    code = run.kill(signal.SIGTERM)
    states, stderr = run.finish()
    assert code == 128 + signal.SIGTERM
    assert "Received SIGTERM: sending the buffered items and writing the state." in stderr
    assert "Stopped by SIGTERM before the end of the input" in stderr
    assert states[-1]["bookmarks"]["stock"]["position"] == 4000
    assert sum(j["itemCount"] for j in emulator.jobs()) == 4321  # the buffer was sent

    last = Pipeline(tmp_path, config, "refresh")
    assert last.wait() == 0
    last.finish()
    assert emulator.stock() == _expected("refresh")
