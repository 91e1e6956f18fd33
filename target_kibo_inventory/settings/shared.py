"""The settings every destination shares, and the config schema composed with each one's own.

Each destination's module declares its own settings (a `DestinationSettings` class of
`setting` fields) and checks them; the config schema is `destination`, then each destination's
settings, then these, as the SDK appends its capabilities' settings to a plugin's own. This
module imports no destination and no run-time module.
"""

from __future__ import annotations

import difflib
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

from singer_sdk import typing as th
from typing_extensions import Self

from target_kibo_inventory.errors import SettingsError, StreamOperationError
from target_kibo_inventory.files import append_problem
from target_kibo_inventory.settings.declare import properties, setting, values

if TYPE_CHECKING:
    import logging
    from collections.abc import Collection, Iterable, Mapping, Sequence

OPERATIONS = ("refresh", "adjust")
DEFAULT_MAX_INVALID_RECORDS = 0.1
"""The default of `max_invalid_records`: a tenth of the records read."""
FRACTION_FLOOR = 100
"""A fraction `max_invalid_records` counts at least this many records read, so that the
first invalid records of a run (up to 10 at the default 0.1) never stop it on their own."""
DEFAULT_MAX_BUFFERED_ITEMS = 1_000_000
DEFAULT_MAX_MOVEMENTS_AT_BOOKMARK = 10_000
DEFAULT_MAX_PARALLEL_REQUESTS = 8

T = TypeVar("T")


# Checks of one setting's value


def https_url(name: str, url: str) -> None:
    """Https is required, except for plain http to this machine (e.g. the emulator)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SettingsError(f"{name} '{url}' must be an https:// URL with a host.")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise SettingsError(
            f"{name} '{url}' uses plain http: https is required for any host but this machine "
            "(127.0.0.0/8, ::1, localhost), so that the API key never crosses a network in clear."
        )


def is_loopback(host: str) -> bool:
    """Whether a host name is this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _a_file(name: str, path: str) -> None:
    if not Path(path).is_file():
        raise SettingsError(f"{name} '{path}' is not a file.")


def _count_or_fraction(name: str, limit: float) -> None:
    if limit >= 1 and limit != int(limit):
        raise SettingsError(
            f"Setting '{name}' ({limit}) must be a count of records (an integer: "
            "1, 2, ...) or a fraction of the records read, between 0 and 1 (e.g. 0.01)."
        )


def _appendable(name: str, path: str, use: str) -> None:
    """Raise SettingsError when the file cannot be appended to; `use` says what goes there."""
    if problem := append_problem(path):
        raise SettingsError(f"Setting '{name}' ({path!r}) {problem}: {use}.")


def _job_log(name: str, path: str) -> None:
    if path:
        _appendable(name, path, "every accepted job is appended to it")


# The composition


class DestinationSettings:
    """A destination's own settings: a frozen dataclass of `setting` fields, in its module.

    Its checks of combinations (`check`, run when the settings are read) and its warnings live
    beside them. What the destination needs to be built (its required settings) it checks when
    it is built, so that a run given another destination in process is not refused for them.
    """

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """The settings it declares, from the validated config, each checked."""
        return cls(**values(cls, config))

    def check(self, settings: Settings) -> None:
        """Raise SettingsError for a combination of settings the destination cannot take."""

    def warnings(self) -> list[str]:
        """Settings that are allowed but cost more or risk refusals, as warning lines."""
        return []

    @property
    def account(self) -> str | None:
        """Whose stock is loaded (Kibo's tenant): it names the crash journal's default folder."""
        return None


class DeclaresSettings(Protocol):
    """A destination as its settings see it (its module's `DESTINATION`)."""

    @property
    def name(self) -> str:
        """As in the `destination` setting."""
        ...

    @property
    def summary(self) -> str:
        """What it loads, for the `destination` setting's description."""
        ...

    @property
    def settings(self) -> type[DestinationSettings]:
        """Its own settings."""
        ...


def config_schema(destinations: Sequence[DeclaresSettings], default: str) -> dict[str, Any]:
    """The config schema: `destination`, each destination's settings, then the shared ones.

    A setting declared twice is a programming error (TypeError).
    """
    names = [destination.name for destination in destinations]
    choices = [f"`{d.name}` ({d.summary})" for d in destinations]
    choice = th.Property(
        "destination",
        th.StringType(allowed_values=names),
        default=default,
        title="Destination",
        description=f"The OMS to load: {_either(choices)}.",
    )
    declared = [choice, *(p for d in destinations for p in properties(d.settings))]
    declared += properties(Settings)
    seen: set[str] = set()
    for prop in declared:
        if prop.name in seen:
            raise TypeError(f"setting {prop.name!r} is declared twice")
        seen.add(prop.name)
    return th.PropertiesList(*declared).to_dict()


def _either(choices: Sequence[str]) -> str:
    """`a`, `a or b`, `a, b or c`."""
    return " or ".join(filter(None, (", ".join(choices[:-1]), choices[-1])))


_OPERATION = th.StringType(allowed_values=list(OPERATIONS))


@dataclass(frozen=True)
class Settings:
    """The run's settings, checked, with their defaults applied (named as the settings).

    The shared ones are declared here; the destination's own are in `destination_settings`.
    """

    destination: str
    """The destination's name (the `destination` setting)."""
    destination_settings: DestinationSettings
    """Its own settings, as its module declares them (see `of`)."""
    base_url: str | None = setting(
        th.StringType,
        "Base URL",
        "Overrides the host (scheme, host, port), e.g. the legacy "
        "`https://integration.shopatron.com`, another region's Kibo host or a local emulator; "
        "the API's paths are appended. Required for `increff` (Increff gives each client its "
        "host).",
        check=https_url,
    )
    operation: str = setting(
        _OPERATION,
        "Operation",
        "`refresh` (absolute counts) or `adjust` (signed deltas).",
        default="refresh",
    )
    stream_operations: dict[str, str] = setting(
        th.ObjectType(additional_properties=_OPERATION),
        "Operation per stream",
        "Stream name (as stream maps name it) → `refresh` or `adjust`, overriding "
        "`operation`. When set, it must name every stream loaded: a stream it does not name "
        "is refused at its SCHEMA, before any of its records is sent, so that a renamed "
        "stream is never sent with the wrong operation.",
        default={},
    )
    location_name: str | None = setting(
        th.StringType, "Default location", "Location used for records that carry none."
    )
    field_map: dict[str, str] = setting(
        th.ObjectType(additional_properties=th.StringType),
        "Field map",
        "API field name → record property name. Unmapped API fields are read from the "
        "property of the same name or its snake_case form (`part_number`, "
        "`location_name`, `safety_stock`, ...). The API fields are the destination's "
        "(README, Mapping records).",
        default={},
    )
    stream_field_maps: dict[str, dict[str, str]] = setting(
        th.ObjectType(additional_properties=th.ObjectType(additional_properties=th.StringType)),
        "Field map per stream",
        "Stream name → API field name → record property name, over `field_map` for that "
        'stream (e.g. `{"movements": {"quantity": "movement_qty"}}`); stream names are '
        "those after stream maps.",
        default={},
    )
    on_invalid_record: str = setting(
        th.StringType(allowed_values=["fail", "dead_letter"]),
        "Invalid records",
        "`fail`: stop at the first record that breaks a rule or the stream's schema. "
        "`dead_letter`: write each such record, its stream, position and reason as a JSON "
        "line to `dead_letter_path` and load the others, up to `max_invalid_records`; "
        "the run ends with a warning counting the records loaded and set aside.",
        default="fail",
    )
    dead_letter_path: str = setting(
        th.StringType,
        "Dead-letter file",
        "File that `on_invalid_record: dead_letter` appends invalid records to.",
        default="kibo-inventory-dead-letter.jsonl",
        blank_is_unset=False,
    )
    max_invalid_records: float = setting(
        th.NumberType(exclusive_minimum=0),
        "Invalid records limit",
        "With `on_invalid_record: dead_letter`, the most records set aside before the run "
        "stops like `fail` would. An integer (1, 2, ...) is a count; a number between 0 "
        "and 1 is a fraction of the records read so far, counting at least "
        f"{FRACTION_FLOOR} and allowing at least 1 (so at the default 0.1 the first 10 "
        "never stop a run).",
        default=DEFAULT_MAX_INVALID_RECORDS,
        check=_count_or_fraction,
    )
    drain_interval_seconds: float = setting(
        th.NumberType(exclusive_minimum=0),
        "Drain interval",
        "At most this long after the last drain, every buffered item is sent and STATE "
        "is written, also while the tap sends nothing (checked every second). Shorter "
        "gives more frequent resume points, at the cost of more, smaller jobs.",
        default=300,
    )
    journal_path: str | None = setting(
        th.StringType,
        "Crash journal",
        "Local folder recording, in one file per location, the items applied since the "
        "last STATE message, so that a run resumed after a crash (or after a tap that "
        "failed part-way) never applies an adjust twice. Runs whose locations are disjoint "
        "may share it. Default: `kibo-inventory-journal-<tenant_id>` in the working "
        "directory; an empty string turns it off. Used only when some stream is adjust.",
        blank_is_unset=False,
    )
    journal_resolve: dict[str, str] = setting(
        th.ObjectType(
            additional_properties=th.StringType(allowed_values=["applied", "not_applied"])
        ),
        "Resolve in-flight adjusts",
        "After a crash while an adjust was being sent: the incident ID that the resumed "
        "run's error printed → `applied` or `not_applied`, as checked in Kibo, so that the "
        "next run skips or sends it. A resolution that matches no open incident is refused.",
        default={},
    )
    max_buffered_items: int = setting(
        th.IntegerType(minimum=1),
        "Buffered items cap",
        "Most distinct items held in memory across all locations (repeats of an item are "
        "collapsed into one; about 220 bytes each). At the cap, when no stream is sent as "
        "adjust, the largest buffers of counts wait on disk (in the system's temporary folder, "
        "owner-only, removed at the end) until their location's requests go out, so requests "
        "stay full; otherwise the largest buffers are sent in whole multiples of 3000 items "
        "and the rest stays buffered.",
        default=DEFAULT_MAX_BUFFERED_ITEMS,
    )
    max_movements_at_bookmark: int = setting(
        th.IntegerType(minimum=1),
        "Movements kept at a bookmark",
        "For adjust streams with a bookmark (an incremental tap's replication key): most "
        "movements sharing the stream's last bookmark value whose keys are kept (in the "
        "STATE and the journal folder), so that the tap's re-read of them at that value "
        "is not applied again. More stops the run with an error.",
        default=DEFAULT_MAX_MOVEMENTS_AT_BOOKMARK,
    )
    max_parallel_requests: int = setting(
        th.IntegerType(minimum=1, maximum=32),
        "Parallel requests",
        "Requests in flight at once, for different locations; a location's requests are "
        "always sent one after the other, in order.",
        default=DEFAULT_MAX_PARALLEL_REQUESTS,
    )
    max_retries: int = setting(
        th.IntegerType(minimum=0),
        "Retries",
        "Further tries of a request after a 429, 500, 502, 503, 504 or a lost connection, "
        "with exponential backoff and jitter (a 429's Retry-After is honoured).",
        default=5,
    )
    max_retry_seconds: float = setting(
        th.NumberType(minimum=0),
        "Retry time limit",
        "Seconds after a request's first try past which it is not tried again.",
        default=300,
    )
    adjust_retry_ambiguous: bool = setting(
        th.BooleanType,
        "Retry ambiguous adjusts",
        "Retry an adjust request after a failure that may hide an applied request (read "
        "timeout, connection lost after sending, 500, 502, 504): at-least-once, so a delta "
        "may be applied twice. By default the run stops instead, naming the location and "
        "items to check.",
        default=False,
    )
    maybe_applied_wait_seconds: float = setting(
        th.NumberType(minimum=0),
        "Wait after a maybe-applied try",
        "After a try that may still be applied without an answer (read timeout, connection "
        "lost after sending, 502, 504 from a gateway), the location's next, newer request "
        "waits until this long after that try began, so that a late copy of it cannot land "
        "after newer counts (Kibo has no idempotency key). Other locations go on.",
        default=120,
    )
    ca_bundle: str | None = setting(
        th.StringType,
        "CA bundle",
        "PEM file of certificate authorities to trust instead of the default ones (e.g. a "
        "corporate TLS-inspecting proxy). TLS certificates are always verified.",
        check=_a_file,
    )
    request_timeout: float = setting(
        th.NumberType(exclusive_minimum=0),
        "Request timeout",
        "Seconds to wait for the API to connect and to answer, per request.",
        default=60,
    )
    wait_for_jobs: bool = setting(
        th.BooleanType,
        "Wait for jobs",
        "Poll Kibo's job queue for every accepted job until it is SUCCESS or FAILED, and "
        "write each STATE only after the jobs it reports are done, so that a bookmark never "
        "moves past stock that failed to apply. A FAILED job stops the run (with "
        "`on_invalid_record: dead_letter` it is set aside and the run goes on). Each drain "
        "then waits for Kibo's queue. Destinations that answer item by item (Increff) need "
        "no polling.",
        default=False,
    )
    job_wait_timeout_seconds: float = setting(
        th.NumberType(exclusive_minimum=0),
        "Job wait limit",
        "With `wait_for_jobs`: the longest a drain waits for its jobs to finish; past it "
        "the run fails naming the jobs still pending (no STATE is written past them).",
        default=3600,
    )
    job_log_path: str | None = setting(
        th.StringType,
        "Job log",
        "File that every accepted job (or Increff request) is appended to as one JSON "
        "line: time, destination, operation, location, items, job ID, stream, and its "
        "final status when known (`wait_for_jobs`). Kept across runs, unlike the state.",
        check=_job_log,
    )
    check_credentials_at_start: bool = setting(
        th.BooleanType,
        "Check credentials at start",
        "Before reading the input, do what the documents support to prove the credentials: "
        "get the OAuth2 token (`auth_method: oauth`) and, on Kibo's native API, read its job "
        "queue once (Get Jobs, limit 1), so that a wrong key, secret, tenant or site fails "
        "at once. On the translated endpoints the job queue is read only with "
        "`wait_for_jobs` (which relies on it). Increff has no such read.",
        default=True,
    )
    dry_run: bool = setting(
        th.BooleanType,
        "Dry run",
        "Read, validate, map and batch everything but send nothing (no token request "
        "either): each request that would go out is written as a JSON file (method, URL, "
        "body) to `dry_run_dir`. No STATE is written, so a bookmark never moves.",
        default=False,
    )
    dry_run_dir: str = setting(
        th.StringType,
        "Dry-run folder",
        "Folder of a dry run's request files (`request-00001.json`, ...), its "
        "`summary.json` and `dead-letter.jsonl`, listed in its `dry-run-files.jsonl`. A dry "
        "run removes the files an earlier one listed there, and refuses a folder that holds "
        "any other file.",
        default="kibo-dry-run",
        blank_is_unset=False,
    )

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], destinations: Mapping[str, type[DestinationSettings]]
    ) -> Settings:
        """The settings of the validated config (defaults applied), checked.

        `destinations` are the destinations' own settings by name; the one the config names
        is read and checks its combinations.
        """
        name = config["destination"]
        if name not in destinations:
            raise SettingsError(f"Unknown destination {name!r}: {', '.join(destinations)}.")
        shared = values(cls, config)
        own = destinations[name].from_config(config)
        settings = cls(name, own, **shared)
        settings.check()
        own.check(settings)
        return settings

    def check(self) -> None:
        """Raise SettingsError for combinations of the shared settings that cannot work."""
        if self.on_invalid_record == "dead_letter":
            use = "on_invalid_record: dead_letter appends invalid records to it"
            _appendable("dead_letter_path", self.dead_letter_path, use)
        folder = self.dry_run_dir or ""
        if self.dry_run and (not folder or (Path(folder).exists() and not Path(folder).is_dir())):
            raise SettingsError(
                f"Setting 'dry_run_dir' ({folder!r}) must be a folder: a dry run writes the "
                "requests it would send there."
            )

    def of(self, kind: type[T]) -> T:
        """The destination's own settings, as its module declares them (`kind`)."""
        own = self.destination_settings
        if not isinstance(own, kind):
            raise TypeError(f"destination {self.destination!r} has no {kind.__name__}")
        return own

    def warn_about_costs(self, logger: logging.Logger) -> None:
        """Log the settings that are allowed but cost more or risk refusals (the destination's)."""
        for warning in self.destination_settings.warnings():
            logger.warning(warning)

    @property
    def operations(self) -> set[str]:
        """Every operation some stream may be sent with."""
        return {self.operation, *self.stream_operations.values()}

    @property
    def journal_folder(self) -> Path | None:
        """The crash journal's folder, or None when there is no journal.

        It is needed only when some stream is sent as adjust (refresh is idempotent); an empty
        journal_path turns it off.
        """
        if "adjust" not in self.operations or self.journal_path == "":
            return None
        account = self.destination_settings.account
        return Path(self.journal_path or f"kibo-inventory-journal-{account}")

    def operation_for(
        self, stream_name: str, sources: Collection[str] = (), arrived: Collection[str] = ()
    ) -> str:
        """The operation that records of this stream are sent with.

        Without `stream_operations`, `operation`. With it, the operation it names for the
        stream; a stream it does not name is refused (StreamOperationError), so that a stream
        renamed (a typo, a tap upgrade, a stream map) is never sent with the wrong operation,
        deltas as counts or counts as deltas. `sources` are the tap's streams that a stream
        map renamed to this one; `arrived`, the streams that came before it.
        """
        if not self.stream_operations:
            return self.operation
        if stream_name in self.stream_operations:
            return self.stream_operations[stream_name]
        raise StreamOperationError(self._unnamed_stream(stream_name, sources, arrived))

    def _unnamed_stream(self, name: str, sources: Collection[str], arrived: Collection[str]) -> str:
        """Why a stream that stream_operations does not name is refused, and what to do."""
        named = ", ".join(f"{key!r} ({op})" for key, op in sorted(self.stream_operations.items()))
        renamed = [source for source in sources if source in self.stream_operations]
        waiting = [key for key in self.stream_operations if key not in arrived]
        close = closest(name, waiting)
        if renamed:
            hint = (
                f"stream_maps renames the tap's stream {renamed[0]!r} to {name!r}, and "
                "stream_operations names streams as stream_maps name them: name "
                f"{name!r} instead of {renamed[0]!r}."
            )
        elif close:
            hint = f"did you mean {close!r}? Fix the name, or add {name!r}."
        else:
            hint = f"add {name!r} (or fix the name of the stream meant)."
        return (
            f"Stream {name!r} is not named in stream_operations, which names {named}: {hint} "
            "When stream_operations is set it must name every stream loaded, each with refresh "
            "or adjust, so that a renamed stream (a typo, a tap upgrade, a stream map) is never "
            "sent with the wrong operation. The run stopped before any record of this stream."
        )

    def field_map_for(self, stream_name: str) -> dict[str, str]:
        """The field map of this stream: `field_map`, then its `stream_field_maps` entries."""
        return {**self.field_map, **self.stream_field_maps.get(stream_name, {})}

    def unused_stream_field_maps(self, seen: Iterable[str]) -> list[str]:
        """A warning line for each stream_field_maps key that named no stream of this run."""
        seen = set(seen)
        return [
            f"stream_field_maps[{name!r}] was not used: no stream {name!r} was loaded in this run"
            + (f" (did you mean {close!r}?)." if (close := closest(name, seen)) else ".")
            for name in sorted(set(self.stream_field_maps) - seen)
        ]

    def unused_stream_operations(self, seen: Iterable[str]) -> list[str]:
        """A warning line for each stream_operations key that named no stream of this run."""
        seen = set(seen)
        warnings = []
        for name in sorted(set(self.stream_operations) - seen):
            close = closest(name, seen)
            warnings.append(
                f"stream_operations[{name!r}] ({self.stream_operations[name]}) was not used: "
                f"no stream {name!r} was loaded in this run"
                + (f" (did you mean {close!r}?)." if close else ".")
            )
        return warnings


def require(destination: str, names: Sequence[str], *sources: object) -> None:
    """Raise SettingsError naming the settings a destination needs that are not set.

    Each name is read from the first of `sources` (settings objects) that has it.
    """
    missing = [
        name
        for name in names
        if not str(getattr(next(s for s in sources if hasattr(s, name)), name) or "").strip()
    ]
    if missing:
        raise SettingsError(
            f"Setting{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(n) for n in missing)} "
            f"{'are' if len(missing) > 1 else 'is'} required for destination '{destination}'."
        )


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to this one, if any is close."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return close[0] if close else None
