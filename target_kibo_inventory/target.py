"""The Singer target: settings, the record path, and STATE messages with the accepted job IDs."""

from __future__ import annotations

import copy
import functools
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, ClassVar, NamedTuple, NoReturn

import msgspec
from singer_sdk import Target
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.mapper import RemoveRecordTransform, SameRecordTransform, StreamMap
from singer_sdk.sinks import Sink
from typing_extensions import override

from target_kibo_inventory import redaction
from target_kibo_inventory.client import HttpClient, Sender
from target_kibo_inventory.dead_letter import DeadLetters, without_traceback
from target_kibo_inventory.destinations import registry as destinations
from target_kibo_inventory.dry_run import DryRun
from target_kibo_inventory.errors import SettingsError
from target_kibo_inventory.feeds import resend_warning
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
from target_kibo_inventory.record_path import CompiledStream, compile_stream, decode_line
from target_kibo_inventory.rules import clip
from target_kibo_inventory.run import Run, StopSignal
from target_kibo_inventory.settings.sources import (
    check_env_names,
    check_setting_names,
    env_config,
    ignored_setting_warnings,
    secret_values,
    setting_schemas,
)
from target_kibo_inventory.sinks import InventorySink
from target_kibo_inventory.summary import RunStats
from target_kibo_inventory.tracking import read_job_status

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
    """The sink's `preprocess_record`, or None for the SDK's do-nothing default.

    Unlike on the SDK's path, the hook runs before validation (the sink's own), so what it
    returns is what is checked and loaded; a record that is no JSON object skips it.
    """
    hook = sink.preprocess_record
    return None if getattr(hook, "__func__", None) is Sink.preprocess_record else hook


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
        self.stop_signal = StopSignal(self._stop)
        reader = RecordReader(
            before_input=self._before_input,
            on_failure=self._fail,
            on_idle=self._on_idle,
            compiled_record=self._compiled_record,
        )
        super().__init__(
            config=config, validate_config=validate_config, message_reader=reader, **kwargs
        )
        self.settings = settings = self._checked_settings(dropped)
        self.dry_run = DryRun(settings.dry_run_dir, self.logger) if settings.dry_run else None
        self.record_positions: Counter[str] = Counter()
        """Records read per stream (the sinks count them)."""
        self.dead_letters = DeadLetters(
            settings.on_invalid_record,
            self.dry_run.dead_letter_path if self.dry_run else settings.dead_letter_path,
            self.logger,
            settings.max_invalid_records,
            self.record_positions.total,
            file=self.dry_run.dead_letter_file() if self.dry_run else None,
        )
        try:
            self.destination = destination or destinations.build(settings)
            check_field_maps(settings.field_map, settings.stream_field_maps, self.destination)
        except (SettingsError, FieldMapError) as error:
            raise ConfigValidationError(str(error), errors=[str(error)]) from None
        stats = self._stats()
        client = client or self._client(stats)
        self.journal = self._journal(client)
        self.bookmark_properties: dict[str, list[str]] = {}
        """Each stream's bookmark_properties, from its SCHEMA message."""
        self.loader = InventoryLoader(
            self.destination,
            client,
            self.journal,
            self.logger,
            LoaderOptions.from_settings(settings, self.dry_run),
            stopping=self.stop_signal.stopping,
            dead_letters=self.dead_letters,
            stats=stats,
        )
        self.run = Run(
            settings,
            self.destination,
            self.loader,
            self.dead_letters,
            self.logger,
            self.stop_signal,
            dry_run=self.dry_run,
            records_read=self.record_positions.total,
        )
        self._drain_after_minutes = settings.drain_interval_seconds / 60
        self._routes: dict[str, list[Route]] = {}
        self._compiled: dict[str, CompiledStream | None] = {}
        """Each stream's compiled record path (None: the general path only)."""
        self._latest: CompiledStream | None = None
        """The compiled path of the last RECORD taken on one."""
        self._resend_warned: set[str] = set()
        self._next_age_check = 0.0
        self._received_since_drain = False
        self._state_held = False
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

    def _journal(self, client: Sender) -> Journal:
        """The run's crash journal (opened: what interrupted runs left is read)."""
        settings = self.settings
        journal = Journal(
            None if self.dry_run else settings.journal_folder,  # a dry run records nothing
            settings.adjust_retry_ambiguous,
            settings.journal_resolve,
            self.logger,
            bookmark_limit=settings.max_movements_at_bookmark,
            job_status=functools.partial(read_job_status, self.destination, client),
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
        """The run's counters of what was sent."""
        destination = self.destination
        return RunStats(
            destination.name,
            {op: destination.full_size(op) for op in destination.operations},
            {op: destination.cost_step(op) for op in destination.operations},
            words=destination.words,
            dry_run=self.dry_run is not None,
        )

    def _client(self, stats: RunStats) -> HttpClient:
        """The HTTP client of the destination the settings name."""
        settings = self.settings
        return HttpClient(
            self.destination,
            self.logger,
            timeout=settings.request_timeout,
            max_retries=settings.max_retries,
            max_retry_seconds=settings.max_retry_seconds,
            ca_bundle=settings.ca_bundle,
            stopping=self.stop_signal.stopping,
            on_retry=stats.retry,
        )

    def _before_input(self) -> None:
        """Before the first input line is read: the run starts (see Run.start)."""
        self.run.start()

    def _fail(self, error: BaseException) -> None:
        """The reading or the end of input failed: end the run (after a signal, as the stop).

        Called before the error propagates, by the reader and by `process_endofpipe`.
        """
        if self.stop_signal.signum is not None and isinstance(error, Exception):
            self._stop(cut_short=error)
        self.run.finish(error)

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
        with self.stop_signal:
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
            self._received_since_drain = True
            if time.monotonic() >= self._next_age_check:
                self._next_age_check = time.monotonic() + 1
                self._drain_if_due()

    def _compiled_record(self, line: bytes | str) -> bool:
        """Take a RECORD line on its stream's compiled record path; False: the general path.

        The line is first decoded whole for the stream of the last compiled RECORD (one pass);
        failing that, its head is read and its record left raw.
        """
        latest, found = self._latest, None
        if latest is not None:
            try:
                message = latest.decode_line(line)
            except (msgspec.DecodeError, RecursionError):
                message = None
            if message is not None and message.type == "RECORD" and message.stream == latest.stream:
                found = latest.take, message.record
        if found is None and (found := self._compiled_take(line)) is None:
            return False
        take, record = found
        stop = self.stop_signal  # `with stop:` written out: this runs for every record
        stop.deferring = True
        try:
            taken = take(record)
            if taken:
                self._received_since_drain = True
                if time.monotonic() >= self._next_age_check:
                    self._next_age_check = time.monotonic() + 1
                    self._drain_if_due()
        finally:
            stop.deferring = False
        if stop.signum is not None:
            self._stop()
        return taken

    def _compiled_take(self, line: bytes | str) -> tuple[Callable[[Any], bool], Any] | None:
        """The compiled path of a RECORD line's stream and its raw record, or None."""
        try:
            head = decode_line(line)
        except (msgspec.DecodeError, RecursionError):
            return None
        stream = head.stream
        if head.type != "RECORD" or type(stream) is not str or not head.record:
            return None
        try:
            compiled = self._compiled[stream]
        except KeyError:
            compiled = self._compiled[stream] = self._compile(stream)
        if compiled is None:
            return None
        self._latest = compiled
        return compiled.take_raw, head.record

    def _compile(self, stream: str) -> CompiledStream | None:
        """A stream's compiled record path where its records go straight to one sink."""
        if stream not in self.mapper.stream_maps:
            return None  # a RECORD before its SCHEMA: the general path refuses it
        routes = self._routes.get(stream) or self._route({"stream": stream, "record": {}})
        if len(routes) != 1 or not routes[0].identity or routes[0].preprocess is not None:
            return None
        sink = routes[0].sink
        return compile_stream(sink) if isinstance(sink, InventorySink) else None

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
        self._compiled.clear()
        self._latest = None
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
        with self.stop_signal:
            latest = self._latest_state
            super()._process_state_message(message_dict)
            if self._latest_state != latest:
                self.journal.state_received(self._latest_state)
                self._received_since_drain = True

    def _drain_if_due(self) -> None:
        """Drain when something received waits longer than drain_interval_seconds."""
        if (
            self._received_since_drain
            and self._max_record_age_in_minutes > self._drain_after_minutes
        ):
            self._received_since_drain = False
            self.logger.info(
                "Sending what was received in the last %g s (drain_interval_seconds).",
                self.settings.drain_interval_seconds,
            )
            self.drain_all()

    def _on_idle(self) -> None:
        """No input for a second: a drain may be due (the tap may be slow or idle)."""
        with self.stop_signal:
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
        self.loader.flush_and_wait_for_jobs()  # every job the state reports is final
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
            state[STATE_KEY] = self.loader.jobs.ledger.pop_unreported()
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
        self.stop_signal.defer_from_now()
        self.journal.input_ended()
        try:
            super().process_endofpipe()
            for warning in self.settings.unused_stream_operations(self._sinks_active):
                self.logger.warning(warning)
            for warning in self.settings.unused_stream_field_maps(self._sinks_active):
                self.logger.warning(warning)
            unreported = len(self.loader.jobs.ledger)
            if unreported or (self.dead_letters.count and not self._latest_state):
                self._write_state_message({})
            self.loader.flush_and_wait_for_jobs()  # every job final, even without a STATE
            if self._latest_state and self.journal.stood_still and not self.journal.replaying:
                self._write_state(copy.deepcopy(self._latest_state), final=True)
        except BaseException as error:
            self._fail(error)
            raise
        self.journal.finish(tap_sent_state=self._latest_state is not None)
        self._close()
        self.run.finish()
        self.run.signal_after_the_end()

    def _close(self) -> None:
        """Close the dead letters (with their count's warning), the loader and the journal."""
        self.dead_letters.close()
        self.loader.close()
        self.journal.close()

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """On SIGTERM/SIGINT: send what is buffered, write the state, exit (see StopSignal)."""
        self.stop_signal.received(signum)

    def _stop(self, cut_short: Exception | None = None) -> NoReturn:
        """Send what is buffered (unless a request was cut short), write the state, and exit."""
        self.stop_signal.defer_from_now()
        if cut_short is None:
            self.run.stop_received()
            try:
                self.drain_all(is_endofpipe=True)
            except Exception as error:  # reported below as what the stop did
                cut_short = error
        unreported = self.loader.jobs.ledger.pop_unreported()
        self.run.finish(cut_short or SystemExit(self.stop_signal.exit_code))
        self._close()
        self.run.exit_after_stop(
            cut_short,
            unreported,
            tap_sent_state=self._latest_state is not None,
            state_held=self._state_held,
        )
