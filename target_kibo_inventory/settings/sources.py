"""Where settings come from: a config file, `TARGET_KIBO_INVENTORY_<SETTING>` variables, the SDK.

Unknown names are refused with the closest known one, environment variables' text is read as
its setting's JSON type, and the SDK's built-in settings this target drops are warned about.
"""

from __future__ import annotations

import copy
import json
import math
from typing import TYPE_CHECKING, Any

from singer_sdk.configuration._dict_config import parse_environment_config

from target_kibo_inventory.errors import SettingsError
from target_kibo_inventory.settings.shared import closest

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from singer_sdk import Target

IGNORED_SDK_SETTINGS = {
    "batch_size_rows": (
        "requests are sized per location by refresh_batch_items and adjust_batch_items"
    ),
    "load_method": "refresh sends absolute counts and adjust sends deltas (see operation)",
    "add_record_metadata": "items sent to Kibo carry no _sdc_ metadata",
}
"""SDK settings this target leaves out of its schema, and why; accepted with a warning."""

SEE_ABOUT = "`target-kibo-inventory --about` lists them."

ENV_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True}
ENV_BOOLEANS |= {"false": False, "0": False, "no": False, "off": False}
ENV_TYPES = {
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a JSON object",
    "array": "a JSON array",
}
"""Setting types read from environment variables' text (in this order), as errors name them."""


def setting_schemas(
    target_class: type[Target],
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The target's settings schema, and the SDK's built-in settings it drops.

    The schema has the SDK's built-in settings the target keeps; the dropped ones map each
    name to the SDK's schema of it.
    """
    schema = copy.deepcopy(target_class.config_jsonschema)
    target_class.append_builtin_config(schema)
    # every built-in setting of the SDK's Target class
    sdk_settings: dict[str, Any] = {"properties": {}}
    super(target_class, target_class).append_builtin_config(sdk_settings)
    dropped = {
        name: sdk_schema
        for name, sdk_schema in sdk_settings["properties"].items()
        if name not in schema["properties"]
    }
    return schema, dropped


def secret_values(config: Mapping[str, Any], schema: dict[str, Any]) -> list[Any]:
    """The values of the settings the schema marks secret."""
    return [config.get(name) for name, spec in schema["properties"].items() if spec.get("secret")]


def check_setting_names(config: Mapping[str, Any], known: Collection[str]) -> None:
    """Raise SettingsError naming each top-level key that is no setting, and the closest one."""
    errors = []
    for name in sorted(set(config) - set(known)):
        close = closest(name, known)
        hint = f"did you mean {close!r}?" if close else SEE_ABOUT
        errors.append(f"Unknown setting {name!r}: {hint}")
    if errors:
        raise SettingsError(" ".join(errors))


def check_env_names(
    environ: Mapping[str, str], prefix: str, known: Collection[str], others: Collection[str]
) -> None:
    """Raise SettingsError naming each `<prefix>…` variable that names no setting.

    With `--config ENV`, settings come from `<prefix><SETTING>` variables, so a misspelled
    one would be ignored; it is refused, naming the closest setting's variable, as an unknown
    key of a config file is. `others` are the prefixed variables that are no settings but mean
    something (the SDK's `<prefix>LOGLEVEL`).
    """
    variables = {prefix + name.upper().replace("-", "_"): name for name in known}
    unknown = sorted(set(environ) - set(variables) - set(others))
    errors = []
    for variable in (v for v in unknown if v.startswith(prefix)):
        close = closest(variable.removeprefix(prefix).lower(), known)
        hint = (
            f"did you mean {prefix}{close.upper()} (setting {close!r})?"
            if close
            else f"no setting has this name; {SEE_ABOUT}"
        )
        errors.append(f"Unknown environment variable {variable}: {hint}")
    if errors:
        raise SettingsError(
            " ".join(errors)
            + f" With --config ENV, every variable that starts with {prefix} must name a setting."
        )


def ignored_setting_warnings(
    config: Mapping[str, Any], ignored: Mapping[str, dict[str, Any]]
) -> list[str]:
    """A warning for each SDK setting this target drops that is set to other than its default.

    `ignored` maps each dropped setting's name to the SDK's schema of it.
    """
    return [
        f"{name} is not used by this target: {IGNORED_SDK_SETTINGS.get(name, 'it has no effect')}."
        for name, schema in ignored.items()
        if config.get(name) and config.get(name) != schema.get("default")
    ]


def env_config(schema: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Settings from `<prefix><NAME>` environment variables, converted to their JSON types.

    The SDK's own lookup reads them (same names, and its .env file) as text; each is then
    converted by its setting's type: integer, number, true/false, or JSON for objects and arrays.
    """
    properties = schema["properties"]
    as_text = {"properties": {name: {"type": "string"} for name in properties}}
    return {
        name: _from_env(name, prefix + name.upper().replace("-", "_"), text, properties[name])
        for name, text in parse_environment_config(as_text, prefix).items()
    }


def _from_env(name: str, variable: str, text: str, schema: dict[str, Any]) -> Any:
    """An environment variable's text as its setting's type; SettingsError if it is none."""
    types = _json_types(schema)
    if "string" in types or not types & set(ENV_TYPES):
        return text
    for kind in ENV_TYPES:
        if kind in types:
            try:
                return _parse_env_text(kind, text)
            except ValueError:
                pass
    expected = " or ".join(ENV_TYPES[kind] for kind in ENV_TYPES if kind in types)
    shown = "" if schema.get("secret") else f", not {text!r}"
    raise SettingsError(f"Setting {name!r} ({variable}) must be {expected}{shown}.")


def _parse_env_text(kind: str, text: str) -> Any:
    """Text as a JSON value of this kind; ValueError if it is not one."""
    if kind == "boolean":
        word = text.strip().lower()
        if word not in ENV_BOOLEANS:
            raise ValueError(text)
        return ENV_BOOLEANS[word]
    value = json.loads(text)
    if not _is_kind(kind, value):
        raise ValueError(text)
    return value


def _is_kind(kind: str, value: Any) -> bool:
    if kind == "integer":
        return type(value) is int
    if kind == "number":
        return type(value) in (int, float) and math.isfinite(value)
    return isinstance(value, dict if kind == "object" else list)


def _json_types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a schema allows, including those of its anyOf/oneOf alternatives."""
    kinds = schema.get("type", [])
    types = {kinds} if isinstance(kinds, str) else set(kinds)
    for alternative in (*schema.get("anyOf", []), *schema.get("oneOf", [])):
        if isinstance(alternative, dict):
            types |= _json_types(alternative)
    return types
