"""Shared fixtures: a real emulator on 127.0.0.1; Meltano and tap-postgres, installed into `.e2e/`
on first use. A test that skips fails the run, except in tests/test_spec.py and
tests/test_vendor_documents.py (which need ../shared/api/, absent from a clone); so does a run
that leaves a new file or folder in the repository's folder. Each test runs in a folder of its
own; each worker (pytest-xdist, pyproject's addopts) starts with its share of the tests marked
`slow`, and the venvs of the outside components are installed meanwhile.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import threading
from collections.abc import Callable, Iterator

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from target_kibo_inventory.emulator.server import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_TENANT,
    Emulator,
    Options,
)
from tests.harness import EmulatorClient, Run, run_in_process, run_target
from tests.outside import E2E, MELTANO, ROOT, TAP_POSTGRES, e2e_venv

TAP_POSTGRES_VENV = ("tap-postgres", TAP_POSTGRES, "tap-postgres")

set_hypothesis_home_dir(E2E / "hypothesis")  # its cache and examples: not in the folder itself

TENANT = "test-tenant"
API_KEY = "test-key-0123456789"
API_SECRET = "test-secret-9876543210"


@pytest.fixture(autouse=True)
def _signal_handlers_restored() -> Iterator[None]:
    """A target built in process installs its SIGTERM/SIGINT handler (the SDK does): put
    pytest's back after each test, so Ctrl-C still stops the run."""
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


@pytest.fixture(autouse=True)
def _own_working_directory(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test runs in an empty folder of its own (not tmp_path, whose contents some tests
    check): what a target run in process writes to its working directory (a journal, dead
    letters) lands there, never in the repository's folder nor in another test's."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def run_case(request: pytest.FixtureRequest) -> Callable[..., Run]:
    """How a parametrized test runs the target: its first case through the command line
    (run_target, a new process), every other case in process (run_in_process: the same command,
    about 20 times faster). One CLI run shows the behaviour; the cases show its rules."""
    callspec = getattr(request.node, "callspec", None)
    first = callspec is None or not any(callspec.indices.values())
    return run_target if first else run_in_process


def _serving(options: Options) -> Iterator[EmulatorClient]:
    server = Emulator(TENANT, API_KEY, API_SECRET, token_ttl=3600, options=options)
    url = server.start("127.0.0.1", 0)
    yield EmulatorClient(url, TENANT, API_KEY, API_SECRET)
    server.stop()


@pytest.fixture
def emulator() -> Iterator[EmulatorClient]:
    """A fresh emulator serving real HTTP on a free port of 127.0.0.1, with the documents'
    defaults (OAuth tokens only; the job queue on the native API's paths only)."""
    yield from _serving(Options())


@pytest.fixture
def queue_emulator() -> Iterator[EmulatorClient]:
    """An emulator that also serves the job queue at the translated packages' paths, as the
    target assumes with wait_for_jobs (no document places it on the translation host)."""
    yield from _serving(Options(translated_queue=True))


@pytest.fixture
def key_emulator() -> Iterator[EmulatorClient]:
    """An emulator whose translated endpoints also take the API key itself as the bearer
    (auth_method: bearer_api_key)."""
    yield from _serving(Options(accept_api_key=True))


@pytest.fixture
def dev_emulator() -> Iterator[EmulatorClient]:
    """An emulator with the tenant, key and secret of the `dev` environment in meltano.yml (the
    command line's demo credentials)."""
    server = Emulator(DEMO_TENANT, DEMO_API_KEY, DEMO_API_SECRET)
    url = server.start("127.0.0.1", 0)
    yield EmulatorClient(url, DEMO_TENANT, DEMO_API_KEY, DEMO_API_SECRET)
    server.stop()


@pytest.fixture(scope="session")
def meltano_executable() -> str:
    """The meltano CLI, installed into `.e2e/meltano` on first use."""
    return e2e_venv(*OUTSIDE["meltano"])


@pytest.fixture(scope="session")
def tap_postgres_executable() -> str:
    """MeltanoLabs' tap-postgres CLI, installed into `.e2e/tap-postgres` on first use."""
    return e2e_venv(*TAP_POSTGRES_VENV)


OUTSIDE = {"meltano": ("meltano", MELTANO, "meltano"), "postgres": TAP_POSTGRES_VENV}
"""The markers of tests that use an outside component (slow by itself), and the venv each needs
(name, requirement, executable): Meltano; PostgreSQL, read by tap-postgres."""
_installs: list[threading.Thread] = []


def pytest_itemcollected(item: pytest.Item) -> None:
    """A test of an outside component is slow."""
    if _outside(item):
        item.add_marker(pytest.mark.slow)


@pytest.hookimpl(trylast=True)  # after `-m` selected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the tests for the workers (pytest-xdist's worksteal gives each an equal slice, in
    order): each slice starts with its share of the slow tests: two, then one of an outside
    component (so that its venv is installed meanwhile, started here by one worker), the Meltano
    projects first, the README's quick start the very first (the longest)."""
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    units: dict[str, list[pytest.Item]] = {}  # the tests of an outside component's module: one
    for item in items:
        if item.get_closest_marker("slow"):
            units.setdefault(str(item.path) if _outside(item) else item.nodeid, []).append(item)
    inside = [unit for unit in units.values() if not _outside(unit[0])]
    outside = [unit for unit in units.values() if _outside(unit[0])]
    outside.sort(key=lambda unit: unit[0].path.name, reverse=True)  # test_quick_start_e2e first
    outside.sort(key=lambda unit: bool(unit[0].get_closest_marker("postgres")))
    dealt = inside[: 2 * workers] + outside + inside[2 * workers :]
    slices = [[item for unit in dealt[w::workers] for item in unit] for w in range(workers)]
    fast = iter(item for item in items if not item.get_closest_marker("slow"))
    left = len(items)
    for w, part in enumerate(slices):
        size = left // (workers - w)  # as worksteal cuts the list
        left -= size
        part.extend(itertools.islice(fast, max(size - len(part), 0)))
    items[:] = [item for part in slices for item in part] + list(fast)
    first_worker = getattr(config, "workerinput", {}).get("workerid", "gw0") == "gw0"
    if first_worker and not config.option.collectonly:
        _install_in_the_background(items)


def _outside(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(name) for name in OUTSIDE)


def _install_in_the_background(items: list[pytest.Item]) -> None:
    """Start installing the venvs the selected tests need (the fixtures then wait for them)."""
    for marker, venv in OUTSIDE.items():
        if any(item.get_closest_marker(marker) for item in items):
            thread = threading.Thread(target=_install, args=venv, daemon=True)
            thread.start()
            _installs.append(thread)


def _install(name: str, requirement: str, executable: str) -> None:
    with contextlib.suppress(BaseException):  # a failed install fails the test that needs it
        e2e_venv(name, requirement, executable)


LEFT_IN_ROOT_ALLOWED = {E2E.name, ".pytest_cache"}
"""What a run may add to the repository's folder: the outside components' cache, pytest's."""
_in_root: set[str] = set()


def pytest_configure(config: pytest.Config) -> None:
    """Note what the repository's folder holds before the run (in the controller)."""
    if not hasattr(config, "workerinput"):
        _in_root.update(os.listdir(ROOT))


def _left_in_root() -> list[str]:
    return sorted(set(os.listdir(ROOT)) - _in_root - LEFT_IN_ROOT_ALLOWED) if _in_root else []


SKIPS_ALLOWED_IN = ("tests/test_spec.py::", "tests/test_vendor_documents.py::")
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Note each test that skipped outside SKIPS_ALLOWED_IN."""
    allowed = report.nodeid.startswith(SKIPS_ALLOWED_IN)
    if report.skipped and not hasattr(report, "wasxfail") and not allowed:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail a run in which a test skipped outside SKIPS_ALLOWED_IN, or that left something in
    the repository's folder. An install still under way is waited for (no pip left behind)."""
    for thread in _installs:
        thread.join()
    if (_skipped or _left_in_root()) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name the tests that skipped where no test may skip, and what a run left in the folder."""
    if _skipped:
        terminalreporter.section("skipped where no test may skip: the run fails", red=True)
        for nodeid in _skipped:
            terminalreporter.line(nodeid)
    if left := _left_in_root():
        terminalreporter.section("left in the repository's folder: the run fails", red=True)
        for name in left:
            terminalreporter.line(str(ROOT / name))
