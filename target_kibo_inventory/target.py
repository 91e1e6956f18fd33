"""The Singer target: settings, the record path, and STATE messages with the accepted job IDs."""

from __future__ import annotations

import copy
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, ClassVar, NamedTuple, NoReturn

from singer_sdk import Target
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.mapper import RemoveRecordTransform, SameRecordTransform, StreamMap
from singer_sdk.sinks import Sink
from typing_extensions import override

from target_kibo_inventory import redaction
from target_kibo_inventory.client import ApiError, AuthError, HttpClient, Sender
from target_kibo_inventory.dead_letter import DeadLetters, without_traceback
from target_kibo_inventory.destinations import registry as destinations
from target_kibo_inventory.dry_run import DryRun
from target_kibo_inventory.errors import SettingsError
from target_kibo_inventory.feeds import resend_warning
from target_kibo_inventory.files import FileWriteError
from target_kibo_inventory.jobs import JobsNotFinalError
from target_kibo_inventory.journal import Journal
from target_kibo_inventory.journal.bookmarks import write_into
from target_kibo_inventory.loader import InventoryLoader, LoaderOptions
from target_kibo_inventory.mapping import FieldMapError, check_field_maps
from target_kibo_inventory.reader import (
    DISCARD_SECONDS,
    NoSchemaError,
    RecordReader,
    discard_input,
)
from target_kibo_inventory.rules import clip
from target_kibo_inventory.settings.sources import (
    check_env_names,
    check_setting_names,
    env_config,
    ignored_setting_warnings,
    secret_values,
    setting_schemas,
)
from target_kibo_inventory.sinks import InventorySink
from target_kibo_inventory.summary import Progress, RunStats, log_summary, print_table

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import FrameType

    import click

    from target_kibo_inventory.destinations.base import Destination
    from target_kibo_inventory.settings import Settings

STATE_KEY = "kibo_inventory"

UNUSED_BUILTIN_SETTINGS = ("add_record_metadata", "load_method", "batch_size_rows")

Preprocess = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
"""The SDK's `Sink.preprocess_record(record, context)` hook."""


class Route(NamedTuple):
    """Where a stream's records go: one of its stream maps and the sink of the map's alias."""

    stream_map: StreamMap
    identity: bool
    """The map changes nothing, so records skip it."""
    sink: Sink
    preprocess: Preprocess | None
    """The sink's `preprocess_record` hook, when overridden (see `_preprocess_hook`)."""


def _preprocess_hook(sink: Sink) -> Preprocess | None:
    """The sink's `preprocess_record` unless it is the SDK's do-nothing default.

    The SDK's record path calls the hook after the stream map and after its own validation
    (`_validate_and_parse`), then hands the result to `process_record`. Here validation is
    part of the sink's `process_record` (so that a record the schema rejects is set aside like
    any other invalid record), so the hook runs after the stream map and *before* validation:
    a sink that overrides it is checked on what the hook returns, which is what it loads. A
    record that is no JSON object skips the hook and is refused by the sink. The default hook
    (which returns the record unchanged) is not called at all: one call less per record.
    """
    hook = sink.preprocess_record
    return None if getattr(hook, "__func__", None) is Sink.preprocess_record else hook


class _HoldStop:
    """`with` block around each message: a stop (SIGTERM) that arrives meanwhile waits.

    While a message is handled the target's `_stop_waits` is true, so that no buffer is read
    half-updated; a stop signalled meanwhile is carried out when the block ends without error
    (after an error, `_fail` carries it out). One instance per target, a class and not a
    generator: the record path enters it for every record, and a `contextlib.contextmanager`
    costs about 1 µs more a record.
    """

    __slots__ = ("_target",)

    def __init__(self, target: TargetKiboInventory) -> None:
        self._target = target

    def __enter__(self) -> None:
        self._target._stop_waits = True

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        target = self._target
        target._stop_waits = False
        if kind is None and target._stop_signal is not None:
            target._stop()


class CredentialsError(AuthError):
    """The credentials check at start-up failed."""


HELP = """Load stock counts from a Singer tap into Kibo OMS, Kibo Unified Commerce or Increff OMS.

Reads the tap's Singer messages on standard input (or --input). Each RECORD becomes one
inventory item: a quantity, an identifier (partNumber, upc or sku) and a location, read from the
record's properties (setting field_map). Items are grouped by location and sent as Inventory
Refresh (absolute counts) or Adjust (signed deltas) requests; the STATE output carries the tap's
bookmarks and the accepted job IDs.

\b
Examples:
  tap-spreadsheets --config tap.json | target-kibo-inventory --config config.json
  meltano run tap-spreadsheets target-kibo-inventory
  target-kibo-inventory --about          (every setting; --format=markdown for a table)

The README (Quick start with Meltano) shows a first run against the bundled emulator,
kibo-emulator.
"""


class TargetKiboInventory(Target):
    """Loads stock counts into Kibo OMS, Kibo Unified Commerce and Increff OMS."""

    name = "target-kibo-inventory"
    after_state_written: ClassVar[Callable[[int], None] | None] = None
    """Called with the count of STATE messages written, after each (the crash tests' hook)."""
    config_jsonschema = destinations.config_schema()
    default_sink_class = InventorySink
    message_reader_class = RecordReader
    message_reader: RecordReader

    def __init__(
        self,
        *,
        config: Mapping[str, Any] | None = None,
        parse_env_config: bool = False,
        validate_config: bool = True,
        destination: Destination | None = None,
        client: Sender | None = None,
        **kwargs: Any,
    ) -> None:
        """Check the settings and set up the run.

        Before the SDK validates the config: settings from environment variables get their
        schema types, secrets are masked in every log line from then on, and unknown settings
        are refused. `destination` and `client` replace the ones the settings name (to drive
        the whole pipeline in process, e.g. with another destination).
        """
        self.logger.addFilter(without_traceback)  # before the SDK validates the config
        config = dict(config or {})
        schema, dropped = setting_schemas(type(self))
        try:
            if parse_env_config:
                config |= self._env_settings({**schema["properties"], **dropped})
            redaction.install(secret_values(config, schema))
            if validate_config:
                check_setting_names(config, [*schema["properties"], *dropped])
        except SettingsError as error:
            raise ConfigValidationError(str(error), errors=[str(error)]) from None
        super().__init__(config=config, validate_config=validate_config, **kwargs)
        self.settings = settings = self._checked_settings(dropped)
        self.dry_run = DryRun(settings.dry_run_dir, self.logger) if settings.dry_run else None
        self.dead_letters = DeadLetters(
            settings.on_invalid_record,
            self.dry_run.dead_letter_path if self.dry_run else settings.dead_letter_path,
            self.logger,
            file=self.dry_run.dead_letter_file() if self.dry_run else None,
        )
        try:
            self.destination = destination or destinations.build(settings)
            check_field_maps(settings.field_map, settings.stream_field_maps, self.destination)
        except (SettingsError, FieldMapError) as error:
            raise ConfigValidationError(str(error), errors=[str(error)]) from None
        self.journal = self._journal()
        self.bookmark_properties: dict[str, list[str]] = {}
        """Each stream's bookmark_properties, from its SCHEMA message."""
        self.stopping = threading.Event()
        """Set by SIGTERM/SIGINT: waits before retries and before newer requests end."""
        self.record_positions: Counter[str] = Counter()
        self.stats = self._stats()
        self.loader = self._loader(client)
        self.progress = Progress(
            self.stats,
            self.logger,
            tracking_jobs=self.loader.waiter is not None,
            waiting_for_jobs=lambda: self.loader.waiting_for_jobs,
        )
        self.message_reader.before_input = self._before_input
        self.message_reader.on_failure = self._fail
        self.message_reader.on_idle = self._on_idle
        self._drain_after_minutes = settings.drain_interval_seconds / 60
        self._routes: dict[str, list[Route]] = {}
        self._resend_warned: set[str] = set()
        self._next_age_check = 0.0
        self._stop_waits = False
        """A stop (SIGTERM) waits: a message is handled, or the end of input or a stop runs."""
        self._hold_stop = _HoldStop(self)
        self._unsent = False
        self._state_held = False
        self._stop_signal: int | None = None
        self._finished = False
        self._dry_state_noted = False

    def _checked_settings(self, dropped: Mapping[str, Any]) -> Settings:
        """The typed settings of the validated config; warnings for those that do nothing."""
        try:
            settings = destinations.read_settings(dict(self.config))
        except SettingsError as error:
            raise ConfigValidationError(str(error), errors=[str(error)]) from None
        for warning in ignored_setting_warnings(self.config, dropped):
            self.logger.warning(warning)
        settings.warn_about_costs(self.logger)
        return settings

    def _journal(self) -> Journal:
        """The run's crash journal (opened: what interrupted runs left is read)."""
        settings = self.settings
        journal = Journal(
            None if self.dry_run else settings.journal_folder,  # a dry run records nothing
            settings.adjust_retry_ambiguous,
            settings.journal_resolve,
            self.logger,
            bookmark_limit=settings.max_movements_at_bookmark,
            job_status=self._job_status,
            after_state_written=type(self).after_state_written,
        )
        journal.open()
        return journal

    def _env_settings(self, known: dict[str, Any]) -> dict[str, Any]:
        """The settings that `TARGET_KIBO_INVENTORY_<SETTING>` variables give (`--config ENV`).

        A variable with that prefix that names no setting is refused (SettingsError), except
        the SDK's `TARGET_KIBO_INVENTORY_LOGLEVEL`.
        """
        prefix = self._env_var_prefix
        settings = env_config({"properties": known}, prefix)
        check_env_names(os.environ, prefix, known, [f"{prefix}LOGLEVEL"])
        return settings

    def _stats(self) -> RunStats:
        """The run's counters, reading the records and dead letters where they are kept."""
        destination = self.destination
        stats = RunStats(
            destination.name,
            {op: destination.full_size(op) for op in destination.operations},
            {op: destination.cost_step(op) for op in destination.operations},
            words=destination.words,
            dry_run=self.dry_run is not None,
        )
        stats.records_read = lambda: sum(self.record_positions.values())
        stats.dead_lettered = lambda: self.dead_letters.count
        return stats

    def _loader(self, client: Sender | None) -> InventoryLoader:
        """The run's loader: the destination, its client, the journal, the dead letters."""
        settings = self.settings
        client = client or HttpClient(
            self.destination,
            self.logger,
            timeout=settings.request_timeout,
            max_retries=settings.max_retries,
            max_retry_seconds=settings.max_retry_seconds,
            ca_bundle=settings.ca_bundle,
            stopping=self.stopping,
            on_retry=self.stats.retry,
        )
        return InventoryLoader(
            self.destination,
            client,
            self.journal,
            self.logger,
            LoaderOptions.from_settings(settings, self.dry_run),
            stopping=self.stopping,
            dead_letters=self.dead_letters,
            stats=self.stats,
        )

    def _job_status(self, job_id: int | str) -> tuple[str, int | None] | None:
        """A job's status and itemCount, read from the job queue (None: it has none)."""
        queue = self.destination.job_queue
        if queue is None:
            return None
        [status] = queue.read_jobs(self.loader.client.get(queue.job_url(job_id), f"job {job_id}"))
        return status.status, status.item_count

    def _before_input(self) -> None:
        """Before the first input line is read: prepare the run, then start the progress lines.

        A dry run's folder is prepared; otherwise the credentials are checked (when set to).
        """
        if self.dry_run is not None:
            self.dry_run.prepare()
        elif self.settings.check_credentials_at_start:
            self._check_credentials()
        self.progress.start()

    def _check_credentials(self) -> None:
        """Prove the credentials as the documents support it, before reading any input.

        With OAuth the token is fetched. The job queue is read once (Get Jobs, limit 1) where a
        document places it (Kibo's native API), or where `wait_for_jobs` will read it anyway.
        A wrong key, secret, tenant or site fails now, in one line, and not after reading the
        whole input.
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

    def _fail(self, error: BaseException) -> None:
        """The reading or the end of the input failed: end the run, as a stop if one cut it short.

        Called by the reader with the error that ends the reading, and by `process_endofpipe`,
        before the error propagates. After a stop (SIGTERM) the error is a request cut short:
        `_stop` says what was loaded and exits with 128 + the signal's number.
        """
        if self._stop_signal is not None and isinstance(error, Exception):
            self._stop(cut_short=error)
        self._finish(error)

    def _finish(self, error: BaseException | None = None) -> None:
        """Once, at the end of the run (or as it fails): the destination's warnings, the summary.

        The summary as a log line, a METRIC entry and, on a terminal, a table; a dry run's
        summary.json.
        """
        if self._finished:
            return
        self._finished = True
        self.progress.stop()
        if error is None:
            status = "succeeded"
        elif self._stop_signal is not None or isinstance(error, SystemExit | KeyboardInterrupt):
            status = "stopped"
        else:
            status = "failed"
            self.loader.stop_waiting()
        for warning in self.destination.run_warnings():
            self.logger.warning(warning)
        summary = self.stats.summary(status, self.dead_letters.failed_jobs)
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

    @classmethod
    @override
    def invoke(  # type: ignore[override]  # the SDK's own override narrows PluginBase.invoke
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: Any = None,
        file_input: IO[str] | None = None,
    ) -> None:
        """Run the target from the command line; after an error, let the tap end cleanly.

        When the run fails (a setting, the credentials, a mapping, a record), the rest of
        standard input is read and dropped for at most DISCARD_SECONDS before the error is
        raised (and logged by the SDK): a small tap, and Meltano forwarding its output, then
        end without a broken pipe, and the target's error is the last line of the run. A
        stop (SIGTERM) exits at once.
        """
        try:
            super().invoke(
                about=about, about_format=about_format, config=config, file_input=file_input
            )
        except Exception:
            if file_input is None and discard_input(sys.stdin) is False:
                cls.logger.warning(
                    "The input had not ended %g s after the error below: stopped reading it, "
                    "so the tap may report a broken pipe.",
                    DISCARD_SECONDS,
                )
            raise

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        """The command line, with a help text that says what the target does (HELP)."""
        command = super().get_singer_command()
        command.help = HELP
        return command

    @classmethod
    @override
    def append_builtin_config(cls, config_jsonschema: dict[str, Any]) -> None:
        """Add the SDK's built-in settings but those that mean nothing for an inventory API."""
        super().append_builtin_config(config_jsonschema)
        for name in UNUSED_BUILTIN_SETTINGS:
            config_jsonschema["properties"].pop(name, None)

    @override
    def _process_record_message(self, message_dict: dict[str, Any]) -> None:
        """The SDK's record path, lean: stream maps, then the sink's own checks and mapping.

        Unlike the SDK's path it neither adds `_sdc_` metadata nor parses date-time strings
        (items carry none), resolves each stream's maps and sinks once, checks the record
        age for the periodic drain once a second, and validates in the sink, so that a
        record the schema rejects can be set aside like any other invalid record. A record
        that is no object goes to the sink unmapped, to be refused there. The sink's
        `preprocess_record` hook is kept (see `_preprocess_hook`).
        """
        with self._hold_stop:
            try:
                routes = self._routes[message_dict["stream"]]
                record = message_dict["record"]
            except (KeyError, TypeError):  # a new stream, or a message to refuse
                routes = self._route(message_dict)
                record = message_dict["record"]
            for stream_map, identity, sink, preprocess in routes:
                if identity or type(record) is not dict:
                    transformed = record
                else:
                    transformed = stream_map.transform(copy.copy(record))
                    if transformed is None:  # filtered out by the stream map
                        continue
                if preprocess is not None and type(transformed) is dict:
                    transformed = preprocess(transformed, {})
                sink.tally_record_read()
                sink.process_record(transformed, {})
            self._unsent = True
            if time.monotonic() >= self._next_age_check:
                self._next_age_check = time.monotonic() + 1
                self._drain_if_due()

    def _route(self, message_dict: dict[str, Any]) -> list[Route]:
        """A stream's routes: its maps, each with its sink."""
        self._assert_line_requires(message_dict, requires={"stream", "record"})
        stream_name = message_dict["stream"]
        if stream_name not in self.mapper.stream_maps:
            raise NoSchemaError(
                f"stream '{clip(stream_name)}' has a RECORD before its SCHEMA message"
            )
        routes: list[Route] = []
        for stream_map in self.mapper.stream_maps[stream_name]:
            self._assert_sink_exists(stream_map.stream_alias)
            identity = type(stream_map) is SameRecordTransform and not stream_map.flattening_enabled
            sink = self._sinks_active[stream_map.stream_alias]
            routes.append(Route(stream_map, identity, sink, _preprocess_hook(sink)))
        self._routes[stream_name] = routes
        return routes

    def operation_for(self, stream_name: str) -> str:
        """The operation of a stream whose sink is being made (see Settings.operation_for).

        A stream that stream maps remove (`"stream": null`) loads nothing: it needs none.
        """
        maps = {
            source: [m for m in stream_maps if m.stream_alias == stream_name]
            for source, stream_maps in self.mapper.stream_maps.items()
        }
        aliased = [m for found in maps.values() for m in found]
        if aliased and all(isinstance(m, RemoveRecordTransform) for m in aliased):
            return self.settings.operation
        sources = [source for source, found in maps.items() if found and source != stream_name]
        return self.settings.operation_for(stream_name, sources, self._sinks_active)

    @override
    def _process_schema_message(self, message_dict: dict[str, Any]) -> None:
        """Register the schema (and the stream's bookmark); stream maps and sinks may change.

        An adjust stream whose tap sends changed files again whole gets a warning, once.
        """
        stream, bookmark = message_dict.get("stream"), message_dict.get("bookmark_properties")
        if isinstance(stream, str) and isinstance(bookmark, list) and bookmark:
            self.bookmark_properties[stream] = [str(name) for name in bookmark]
        super()._process_schema_message(message_dict)
        self._routes.clear()
        bookmarks = message_dict.get("bookmark_properties")
        if not isinstance(bookmarks, list):
            return
        for stream_map in self.mapper.stream_maps[message_dict["stream"]]:
            name = stream_map.stream_alias
            sink = self._sinks_active.get(name)
            if not isinstance(sink, InventorySink) or sink.operation != "adjust":
                continue
            if name not in self._resend_warned and (warning := resend_warning(name, bookmarks)):
                self._resend_warned.add(name)
                self.logger.warning(warning)

    @override
    def _process_state_message(self, message_dict: dict[str, Any]) -> None:
        """Keep the tap's latest state; items received after it are past the resume point."""
        with self._hold_stop:
            latest = self._latest_state
            super()._process_state_message(message_dict)
            if self._latest_state != latest:
                self.journal.state_received(self._latest_state)
                self._unsent = True

    def _drain_if_due(self) -> None:
        """Drain when something received waits longer than drain_interval_seconds."""
        if self._unsent and self._max_record_age_in_minutes > self._drain_after_minutes:
            self._unsent = False
            self.logger.info(
                "Sending what was received in the last %g s (drain_interval_seconds).",
                self.settings.drain_interval_seconds,
            )
            self.drain_all()

    def _on_idle(self) -> None:
        """No input for a second: a drain may be due (the tap may be slow or idle)."""
        with self._hold_stop:
            self._drain_if_due()

    @override
    def _process_batch_message(self, message_dict: dict[str, Any]) -> None:
        """BATCH messages (files of records) are not supported: refuse them, never drop them."""
        raise RuntimeError(
            f"Stream '{message_dict.get('stream')}' sent a BATCH message (records in files), "
            "which target-kibo-inventory does not read: run the tap without batch_config so "
            "that it sends RECORD messages."
        )

    @override
    def _write_state_message(self, state: dict[str, Any]) -> None:
        """Write the tap's state plus the jobs accepted since the previous STATE message.

        The SDK calls this at the end of each full drain, after every buffered item was
        accepted by the API (and, with `wait_for_jobs`, after every job is final), so the
        state is always a safe point to resume from; the crash journal is checkpointed around
        it. A dry run writes none.
        """
        self.loader.settle()  # with wait_for_jobs: every job it reports is final
        if self.dry_run is not None:
            if not self._dry_state_noted:
                self._dry_state_noted = True
                self.logger.info("Dry run: no STATE is written, so no bookmark moves.")
            return
        if self.journal.replaying:
            self.logger.info("STATE held back until the interrupted run's items are replayed.")
            self._state_held = True
            return
        self._state_held = False
        self._write_state(state, final=False)

    def _write_state(self, state: dict[str, Any], *, final: bool) -> None:
        """Write the state with the accepted jobs and the movements at each bookmark.

        `final`: the tap's bookmark stood still since its last STATE (see Journal.stood_still).
        """
        state = {key: value for key, value in state.items() if key != STATE_KEY}
        write_into(state, self.journal.bookmarks.entries(final=final))
        with self.journal.checkpoint(state, final=final):
            state[STATE_KEY] = self.loader.ledger.take()
            if dead_letters := self.dead_letters.summary():
                state[STATE_KEY]["dead_letter"] = dead_letters
            super()._write_state_message(state)

    @override
    def process_endofpipe(self) -> None:
        """Drain everything; when the tap sent no STATE, still report the accepted jobs.

        Items after the tap's last STATE message stay in the crash journal (the tap may have
        failed part-way, and a run resumed from that state sends them again); a tap that
        ended with a STATE leaves no journal behind. A stop (SIGTERM) meanwhile waits: it
        cuts a request short, and `_fail` reports it.
        """
        self._stop_waits = True
        self.journal.tail = True
        try:
            super().process_endofpipe()
            for warning in self.settings.unused_stream_operations(self._sinks_active):
                self.logger.warning(warning)
            for warning in self.settings.unused_stream_field_maps(self._sinks_active):
                self.logger.warning(warning)
            if len(self.loader.ledger) or (self.dead_letters.count and not self._latest_state):
                self._write_state_message({})
            self.loader.settle()  # every job final, even when no STATE was written
            if self._latest_state and self.journal.stood_still and not self.journal.replaying:
                self._write_state(copy.deepcopy(self._latest_state), final=True)
        except BaseException as error:
            self._fail(error)
            raise
        self.journal.finish(tap_sent_state=self._latest_state is not None)
        self._close()
        self._finish()
        if self._stop_signal is not None:
            self.logger.warning(
                "Received %s after the input was fully loaded and the state written.",
                signal.Signals(self._stop_signal).name,
            )

    def _close(self) -> None:
        """Close the dead letters (with their count's warning), the loader and the journal."""
        self.dead_letters.close()
        self.loader.close()
        self.journal.close()

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """On SIGTERM/SIGINT: send what is buffered, write the state, exit non-zero.

        Waits before retries end at once (no request is tried again); while a message is
        being handled the stop waits until it is done.
        """
        self._stop_signal = signum
        self.stopping.set()
        if not self._stop_waits:
            self._stop()

    def _stop(self, cut_short: Exception | None = None) -> NoReturn:
        """Send what is buffered (unless a request was cut short), write the state, and exit."""
        name = signal.Signals(self._stop_signal or signal.SIGTERM).name
        self._stop_waits = True
        if cut_short is None:
            self.logger.warning(
                "Received %s: sending the buffered items and writing the state.", name
            )
            try:
                self.drain_all(is_endofpipe=True)
            except Exception as error:  # reported below as what the stop did
                cut_short = error
        unreported = self.loader.ledger.take()
        self._finish(cut_short or SystemExit(128 + (self._stop_signal or signal.SIGTERM)))
        self._close()
        self._exit_after_signal(name, cut_short, unreported)

    def _exit_after_signal(
        self, name: str, cut_short: Exception | None, unreported: dict[str, list[dict[str, Any]]]
    ) -> NoReturn:
        """Say what the stop did, then exit with 128 + the signal's number."""
        if isinstance(cut_short, JobsNotFinalError):
            outcome = (
                "every record received was accepted, but not every job was final yet "
                f"({cut_short}). They may still fail, so no STATE was written past them: check "
                f"them in {self.destination.words.title}'s job queue, then run again from the "
                "last state written"
            )
        elif cut_short is not None:
            outcome = (
                f"not every record received was accepted ({cut_short}); no STATE was written "
                "past them. Run again from the last state written"
            )
        elif self._latest_state is None:
            outcome = (
                "every record received was accepted; the tap had sent no STATE, so none was "
                "written. Run again from the state the tap started from"
            )
        elif self._state_held:
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
        self.logger.error("Stopped by %s before the end of the input: %s.", name, outcome)
        sys.exit(128 + (self._stop_signal or signal.SIGTERM))
