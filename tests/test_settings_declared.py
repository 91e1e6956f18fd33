"""Settings declared once: each field is a schema property and a typed value; the config schema is
composed of the shared settings and each destination's own. In process."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from singer_sdk import typing as th

from target_kibo_inventory.destinations.increff import IncreffSettings
from target_kibo_inventory.destinations.kibo.limits import REFRESH_COST_STEP
from target_kibo_inventory.destinations.kibo.settings import LEGACY_BASE_URL, KiboSettings
from target_kibo_inventory.destinations.registry import (
    config_schema,
    destination_types,
    read_settings,
)
from target_kibo_inventory.errors import SettingsError
from target_kibo_inventory.settings import DestinationSettings, Settings, setting
from target_kibo_inventory.settings.declare import declarations, values
from target_kibo_inventory.settings.shared import config_schema as compose

KIBO = {"tenant_id": "t", "api_key": "k", "api_secret": "s"}


def test_the_schema_is_destination_then_each_destination_s_settings_then_the_shared_ones():
    names = list(config_schema()["properties"])
    kibo, increff, shared = (
        list(declarations(c)) for c in (KiboSettings, IncreffSettings, Settings)
    )
    assert names == ["destination", *kibo, *increff, *shared]
    assert list(destination_types()) == ["kibo", "increff"]  # the default first
    assert config_schema()["properties"]["destination"] == {
        "type": ["string", "null"],
        "title": "Destination",
        "default": "kibo",
        "description": (
            "The OMS to load: `kibo` (Kibo OMS or Unified Commerce, see `api_style`) or "
            "`increff` (Increff OMS absolute inventory)."
        ),
        "enum": ["kibo", "increff"],
    }


def test_one_declaration_gives_the_property_and_the_typed_value():
    properties = config_schema()["properties"]
    assert properties["increff_batch_items"] == {
        "type": ["integer", "null"],
        "title": "SKUs per Increff request",
        "default": 300,
        "description": "SKUs in a full Increff request; Increff takes at most 300.",
        "minimum": 1,
        "maximum": 300,
    }
    own = IncreffSettings.from_config({"increff_batch_items": 200})
    assert own.increff_batch_items == 200
    assert IncreffSettings.from_config({}).increff_batch_items == 300  # the same default
    assert properties["api_secret"]["secret"] is True


def test_values_are_typed_and_checked():
    settings = read_settings({**KIBO, "tenant_id": "", "request_timeout": 5, "journal_path": ""})
    assert settings.of(KiboSettings).tenant_id is None  # blank is not set
    assert settings.journal_path == ""  # ... except where blank means off
    assert isinstance(settings.request_timeout, float)
    with pytest.raises(SettingsError, match=r"ca_bundle '/nowhere\.pem' is not a file"):
        read_settings({**KIBO, "ca_bundle": "/nowhere.pem"})
    with pytest.raises(SettingsError, match=r"auth_url 'ftp://x' must be an https:// URL"):
        read_settings({**KIBO, "auth_url": "ftp://x"})


def test_a_destination_s_own_settings_are_its_own():
    settings = read_settings(KIBO)
    assert settings.of(KiboSettings).tenant_id == "t"
    with pytest.raises(TypeError, match="destination 'kibo' has no IncreffSettings"):
        settings.of(IncreffSettings)
    assert not hasattr(settings, "tenant_id")  # no typed copy of every setting


def test_a_setting_declared_twice_is_refused():
    @dataclass(frozen=True)
    class Clashing(DestinationSettings):
        base_url: str | None = setting(th.StringType, "Base URL", "Another one.")

    @dataclass(frozen=True)
    class Other:
        name: str = "other"
        summary: str = "an API"
        settings: type[DestinationSettings] = Clashing

    with pytest.raises(TypeError, match="setting 'base_url' is declared twice"):
        compose([Other()], "other")


def test_the_destination_setting_names_three_destinations_in_one_sentence():
    @dataclass(frozen=True)
    class Named:
        name: str
        summary: str
        settings: type[DestinationSettings] = DestinationSettings

    schema = compose([Named("a", "A"), Named("b", "B"), Named("c", "C")], "a")
    assert schema["properties"]["destination"]["description"] == (
        "The OMS to load: `a` (A), `b` (B) or `c` (C)."
    )


def test_the_shared_descriptions_quote_kibo_as_kibo_defines_it():
    """The shared settings import no destination; their words about Kibo must not drift."""
    properties = config_schema()["properties"]
    assert (
        f"multiples of {REFRESH_COST_STEP} items" in properties["max_buffered_items"]["description"]
    )
    assert f"`{LEGACY_BASE_URL}`" in properties["base_url"]["description"]


def test_number_settings_are_read_as_floats_and_others_as_given():
    found = values(Settings, {"max_retries": 3, "max_retry_seconds": 7, "operation": "adjust"})
    assert found == {"max_retries": 3, "max_retry_seconds": 7.0, "operation": "adjust"}
    assert isinstance(found["max_retry_seconds"], float)
