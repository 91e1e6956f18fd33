"""Real outside components for the end-to-end tests: Meltano, tap-postgres, a PostgreSQL server.

`.ci/run` installs Meltano and tap-postgres, each in its own virtual environment under `.e2e/`,
and PostgreSQL from Debian's packages. A test whose component is missing is skipped, naming it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
E2E = ROOT / ".e2e"
INITDB = ("--auth=trust", "-E", "UTF8", "--no-sync")


def installed(venv: str, executable: str, *, on_path: bool = False) -> str:
    """The CLI that `.ci/run` installs in `.e2e/<venv>` (or, if allowed, one on PATH); else skip."""
    path = E2E / venv / "bin" / executable
    if path.exists():
        return str(path)
    found = shutil.which(executable) if on_path else None
    if found:
        return found
    pytest.skip(f"{executable} is not installed in {path.parent}: `bash .ci/run` installs it")
    return ""  # unreachable: pytest.skip raises


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def report(capsys: pytest.CaptureFixture[str], *lines: str) -> None:
    """Print figures to the terminal even while pytest captures output."""
    with capsys.disabled():
        print("\n" + "\n".join(f"    {line}" for line in lines))


def postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL server's bin folder, or the one of `initdb` on PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    if candidates:
        return candidates[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


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


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}{done.stderr}"


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    """Start a throw-away PostgreSQL server (as user `postgres` when run as root); skip if none."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server is not installed (`bash .ci/run` installs Debian's package)")
    as_user: list[str] = []
    data = Path(tempfile.mkdtemp(prefix="kibo-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(data)
            pytest.skip("running as root and there is no `postgres` user to run PostgreSQL as")
        os.chown(data, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    pg_ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data / "db")]
    options = f"-h 127.0.0.1 -p {port} -k {data} -c fsync=off -c full_page_writes=off"
    try:
        _run([*as_user, str(bin_dir / "initdb"), "-D", str(data / "db"), "-U", "postgres", *INITDB])
        _run([*pg_ctl, "-o", options, "-l", str(data / "server.log"), "-w", "start"])
        yield Postgres(bin_dir, port)
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True, check=False)
        shutil.rmtree(data, ignore_errors=True)
