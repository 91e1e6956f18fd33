"""The target's CLI, killed (SIGKILL) right after it writes its N-th STATE message.

    python tests/crashing_target.py N --config config.json

The journal calls `after_state_written` after each STATE is written and before it records
that it was: the worst moment for a crash. The hook is the tests' own; the package has none.
"""

from __future__ import annotations

import os
import signal
import sys

from target_kibo_inventory.target import TargetKiboInventory


def main() -> None:
    at = int(sys.argv.pop(1))

    def crash(written: int) -> None:
        if written == at:
            os.kill(os.getpid(), signal.SIGKILL)

    class CrashingTarget(TargetKiboInventory):
        after_state_written = staticmethod(crash)

    CrashingTarget.cli()


if __name__ == "__main__":
    main()
