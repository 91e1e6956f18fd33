"""Record validation against the stream's JSON schema, compiled once per schema."""

from __future__ import annotations

import re
from typing import Any

import fastjsonschema
import jsonschema
from singer_sdk.exceptions import InvalidJSONSchema
from singer_sdk.sinks.core import BaseJSONSchemaValidator, JSONSchemaValidator
from typing_extensions import override

from target_kibo_inventory.rules import clip


class SchemaViolationError(ValueError):
    """A record breaks its stream's JSON schema; names the field and the rule."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class InvalidSchemaError(ValueError):
    """A stream's schema is no valid JSON schema (such as a pattern that is no regex)."""


class CompiledValidator(BaseJSONSchemaValidator):
    """fastjsonschema's validator, compiled once per schema (the SDK's uses `jsonschema`).

    Formats are not checked and defaults are not filled in, as with the SDK's validator.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        super().__init__(schema)
        self._validate = fastjsonschema.compile(
            schema,
            handlers={"http": _no_fetch, "https": _no_fetch},
            use_formats=False,
            use_default=False,
        )

    @override
    def validate(self, record: dict[str, Any]) -> None:
        """Raise SchemaViolationError when the record breaks the schema."""
        try:
            self._validate(record)
        except fastjsonschema.JsonSchemaValueException as error:
            field = ".".join(str(p) for p in error.path[1:]) or "(record)"
            raise SchemaViolationError(field, clip(_rule(error.message))) from None


class FallbackValidator(JSONSchemaValidator):
    """The SDK's `jsonschema` validator, for schemas fastjsonschema cannot compile."""

    @override
    def validate(self, record: dict[str, Any]) -> None:
        """Raise SchemaViolationError when the record breaks the schema."""
        error = next(iter(self.validator.iter_errors(record)), None)
        if error is not None:
            field = ".".join(str(p) for p in error.absolute_path) or "(record)"
            raise SchemaViolationError(field, clip(error.message))


def compile_validator(schema: dict[str, Any]) -> BaseJSONSchemaValidator:
    """The fastest validator that understands this schema; InvalidSchemaError if none does."""
    try:
        return CompiledValidator(schema)
    except (fastjsonschema.JsonSchemaDefinitionException, TypeError, ValueError, re.error):
        pass
    try:
        return FallbackValidator(schema)
    except InvalidJSONSchema as error:
        cause = error.__cause__
        if isinstance(cause, jsonschema.SchemaError):
            reason = f"{cause.message} (at {cause.json_path})"
        else:
            reason = str(error)
        raise InvalidSchemaError(clip(reason)) from None


def _no_fetch(uri: str) -> dict[str, Any]:
    """Remote `$ref`s are never fetched: records are checked offline."""
    raise ValueError(f"remote $ref not fetched: {uri}")


def _rule(message: str) -> str:
    """Fastjsonschema says 'data.qty must be integer': keep 'must be integer'."""
    _, _, rule = message.partition(" must ")
    return f"must {rule}" if rule else message
