"""The run's lifecycle: its start, progress lines, a stop by signal, and its end with the summary.

The target (the SDK glue) calls `Run.start` before the first input line, `Run.finish` once at
the end (with the error that ends the run, if any) and, after SIGTERM or SIGINT,
`Run.exit_after_stop`. `StopSignal` defers a stop while a message is being handled.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, NoReturn

from target_kibo_inventory.client import ApiError, AuthError, HttpClient
from target_kibo_inventory.files import FileWriteError
from target_kibo_inventory.jobs import JobsNotFinalError
from target_kibo_inventory.summary import Counts, log_summary, print_table

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from target_kibo_inventory.dead_letter import DeadLetters
    from target_kibo_inventory.destinations.base import Destination
    from target_kibo_inventory.dry_run import DryRun
    from target_kibo_inventory.loader import InventoryLoader
    from target_kibo_inventory.settings import Settings
    from target_kibo_inventory.summary import RunStats
    from target_kibo_inventory.tracking import JobTracker

PROGRESS_SECONDS = 10.0
"""At most one progress line this often."""


class CredentialsError(AuthError):
    """The credentials check at start-up failed."""


class StopSignal:
    """SIGTERM or SIGINT: waits end at once; the stop itself waits while a message is handled.

    The record path enters it (`with`) around each message, so it is a class with slots and
    not a generator. A stop signalled meanwhile is carried out when the block ends without
    error; after an error, the target's failure handling carries it out.
    """

    __slots__ = ("_carry_out", "deferring", "signum", "stopping")

    def __init__(self, carry_out: Callable[[], object]) -> None:
        """`carry_out` stops the run (and exits)."""
        self.stopping = threading.Event()
        """Set as the signal arrives: waits before retries and before newer requests end."""
        self._carry_out = carry_out
        self.signum: int | None = None
        """The signal received, if any."""
        self.deferring = False
        """Whether a stop now waits (a message is handled, or the end of input or a stop runs)."""

    def received(self, signum: int) -> None:
        """A signal arrived: end the waits; stop now unless a stop must wait."""
        self.signum = signum
        self.stopping.set()
        if not self.deferring:
            self._carry_out()

    def defer_from_now(self) -> None:
        """From now on a stop waits (the end of input or a stop is under way)."""
        self.deferring = True

    @property
    def name(self) -> str:
        """The signal's name (SIGTERM when none was received)."""
        return signal.Signals(self.signum or signal.SIGTERM).name

    @property
    def exit_code(self) -> int:
        """128 + the signal's number."""
        return 128 + (self.signum or signal.SIGTERM)

    def __enter__(self) -> None:
        """A message is being handled: a stop waits."""
        self.deferring = True

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        """The message was handled: a stop that waited is carried out (unless it failed)."""
        self.deferring = False
        if kind is None and self.signum is not None:
            self._carry_out()


class ProgressLog:
    """Logs `stats.progress_line` at INFO at most every `interval` seconds, on its own thread.

    A line is logged when something changed, or while a drain waits for jobs.
    """

    def __init__(
        self,
        stats: RunStats,
        logger: logging.Logger,
        counts: Callable[[], Counts],
        jobs: JobTracker,
        interval: float = PROGRESS_SECONDS,
    ) -> None:
        self.stats = stats
        self.logger = logger
        self.counts = counts
        self.jobs = jobs
        self.interval = interval
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: tuple[Any, ...] | None = None

    def start(self) -> None:
        """Start the thread that logs the lines (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kibo-progress", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop logging lines; wait a little for the thread to end."""
        self._stopped.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            with contextlib.suppress(RuntimeError):  # a counter changed size while read
                self._log()

    def _log(self) -> None:
        stats, counts = self.stats, self.counts()
        now = (
            counts.records_read,
            counts.items_buffered,
            stats.requests,
            stats.in_flight,
            stats.retries,
            stats.jobs_accepted,
            sum(stats.jobs_final.values()),
        )
        if now != self._last or self.jobs.waiting:
            self._last = now
            self.logger.info(stats.progress_line(counts, self.jobs.waits))


class Run:
    """One run, from before its first input line to its summary."""

    def __init__(
        self,
        settings: Settings,
        destination: Destination,
        loader: InventoryLoader,
        dead_letters: DeadLetters,
        logger: logging.Logger,
        stop_signal: StopSignal,
        *,
        dry_run: DryRun | None,
        records_read: Callable[[], int],
    ) -> None:
        self.settings = settings
        self.destination = destination
        self.loader = loader
        self.dead_letters = dead_letters
        self.logger = logger
        self.stop_signal = stop_signal
        self.dry_run = dry_run
        self.records_read = records_read
        self.progress = ProgressLog(loader.stats, logger, self.counts, loader.jobs)
        self._finished = False

    def counts(self) -> Counts:
        """What the sinks, the loader and the dead letters count, now."""
        batcher = self.loader.batcher
        return Counts(
            records_read=self.records_read(),
            items_buffered=batcher.buffered_items,
            items_collapsed=batcher.collapsed,
            movements_skipped=self.loader.skipped,
            dead_lettered=self.dead_letters.count,
        )

    def start(self) -> None:
        """Before the first input line: a dry run's folder, or the credentials check; progress."""
        if self.dry_run is not None:
            self.dry_run.prepare()
        elif self.settings.check_credentials_at_start:
            self._check_credentials()
        self.progress.start()

    def _check_credentials(self) -> None:
        """Prove the credentials as the documents support it, before reading any input.

        With OAuth the token is fetched. The job queue is read once (Get Jobs, limit 1) where a
        document places it (Kibo's native API), or where `wait_for_jobs` will read it anyway.
        """
        client = self.loader.client
        if not isinstance(client, HttpClient):  # a client given in process
            return
        started = time.monotonic()
        prefix = "The credentials check at start-up (before reading any input) failed"
        try:
            token = client.check_token()
        except ApiError as error:
            raise CredentialsError(
                f"{prefix}: {error}. Check api_key (the Application ID), api_secret (the Client "
                "Secret) and auth_url."
            ) from None
        read = False
        if self.settings.wait_for_jobs or self._queue_documented:
            try:
                read = client.check_read()
            except ApiError as error:
                raise CredentialsError(f"{prefix}: {error}. {self._queue_read_hint()}") from None
        if token or read:
            self.logger.info(
                "Credentials accepted by %s (%s) in %.1f s; reading the input.",
                self.destination.name,
                " and ".join(
                    what for what, done in (("token", token), ("job queue", read)) if done
                ),
                time.monotonic() - started,
            )
        else:
            self.logger.info(
                "Credentials check at start-up: %s has no documented read for these settings, "
                "so the first request will show whether the credentials are accepted.",
                self.destination.name,
            )

    @property
    def _queue_documented(self) -> bool:
        """Whether a document places the destination's Get Jobs where it is read."""
        queue = self.destination.job_queue
        return queue is not None and queue.documented

    def _queue_read_hint(self) -> str:
        """What to check after the job queue read at start-up failed, and why it was read."""
        why = (
            ""
            if self._queue_documented
            else "The job queue was read because wait_for_jobs reads it. "
        )
        return (
            f"{why}Check tenant_id, site_id and api_key (and base_url, environment and "
            "api_package: a key belongs to one package); check_credentials_at_start: false "
            "skips this read."
        )

    def finish(self, error: BaseException | None = None) -> None:
        """Once, at the end of the run (or as it fails): the destination's warnings, the summary.

        The summary is a log line, a METRIC entry and, on a terminal, a table; a dry run's
        also summary.json.
        """
        if self._finished:
            return
        self._finished = True
        self.progress.stop()
        if error is None:
            status = "succeeded"
        elif self.stop_signal.signum is not None or isinstance(
            error, SystemExit | KeyboardInterrupt
        ):
            status = "stopped"
        else:
            status = "failed"
            self.loader.jobs.stop()
        for warning in self.destination.run_warnings():
            self.logger.warning(warning)
        summary = self.loader.stats.summary(status, self.counts(), self.dead_letters.failed_jobs)
        log_summary(self.logger, summary, self.destination.words)
        if self.dry_run is not None:
            try:
                self.dry_run.write_summary(summary)
            except FileWriteError:
                if error is None:
                    raise
                # the run already fails with its own error (often the same full disk)
                self.logger.debug("The dry run's summary.json was not written.", exc_info=True)
        if sys.stderr.isatty():
            print_table(summary, self.destination.words)

    def stop_received(self) -> None:
        """Say that the stop sends what is buffered and writes the state."""
        self.logger.warning(
            "Received %s: sending the buffered items and writing the state.",
            self.stop_signal.name,
        )

    def signal_after_the_end(self) -> None:
        """Say that a signal came once everything was loaded (the run ends as it would)."""
        if self.stop_signal.signum is not None:
            self.logger.warning(
                "Received %s after the input was fully loaded and the state written.",
                self.stop_signal.name,
            )

    def exit_after_stop(
        self,
        cut_short: Exception | None,
        unreported: dict[str, list[dict[str, Any]]],
        *,
        tap_sent_state: bool,
        state_held: bool,
    ) -> NoReturn:
        """Say what the stop did, then exit with 128 + the signal's number.

        `unreported`: what was accepted and is in no STATE written.
        """
        outcome = stop_outcome(
            cut_short,
            unreported,
            tap_sent_state=tap_sent_state,
            state_held=state_held,
            title=self.destination.words.title,
        )
        stop = self.stop_signal
        self.logger.error("Stopped by %s before the end of the input: %s.", stop.name, outcome)
        sys.exit(stop.exit_code)


def stop_outcome(
    cut_short: Exception | None,
    unreported: dict[str, list[dict[str, Any]]],
    *,
    tap_sent_state: bool,
    state_held: bool,
    title: str,
) -> str:
    """What a stop did: what was accepted, which STATE was written, and how to go on.

    `title` names the destination whose job queue to check (its `words.title`).
    """
    if isinstance(cut_short, JobsNotFinalError):
        outcome = (
            "every record received was accepted, but not every job was final yet "
            f"({cut_short}). They may still fail, so no STATE was written past them: check "
            f"them in {title}'s job queue, then run again from the last state written"
        )
    elif cut_short is not None:
        outcome = (
            f"not every record received was accepted ({cut_short}); no STATE was written "
            "past them. Run again from the last state written"
        )
    elif not tap_sent_state:
        outcome = (
            "every record received was accepted; the tap had sent no STATE, so none was "
            "written. Run again from the state the tap started from"
        )
    elif state_held:
        outcome = (
            "every record received was accepted, but the STATE is held back until an "
            "interrupted run's items are replayed, so none was written. Run again from "
            "the same state"
        )
    else:
        outcome = (
            "every record received was accepted and the state was written; run again to "
            "load the rest"
        )
    ids = [job["jobID"] for job in unreported.get("jobs", [])]
    requests = len(unreported.get("requests", []))
    if ids or requests:
        outcome += (
            f". Accepted and in no STATE: jobs {ids}"
            if ids
            else f". Accepted and in no STATE: {requests} request(s)"
        )
    return outcome
