"""Unit tests of the secret filter: what is masked, and what is left as it is."""

from __future__ import annotations

import logging

import pytest

from target_kibo_inventory.redaction import SecretFilter


@pytest.fixture
def secrets() -> SecretFilter:
    masker = SecretFilter()
    masker.set_secrets(["s3cr3t-Value", 987654321, ["listed-one"], {"key": "valued-two"}, None])
    return masker


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("key s3cr3t-Value.", "key ***."),
        ('{"client_secret": "s3cr3t-Value"}', '{"client_secret": "***"}'),
        ("client_secret=s3cr3t-Value&grant_type=x", "client_secret=***&grant_type=x"),
        ("987654321 is not of type 'string'", "*** is not of type 'string'"),
        ("['listed-one'] is not of type 'string'", "*** is not of type 'string'"),
        ("{'key': 'valued-two'} is not", "*** is not"),
        ("Authorization: Bearer abcdefghijklmnop0123", "Authorization: Bearer ***"),
        ('{"access_token": "abcdefghijklmnop0123"}', '{"access_token": "***"}'),
        ("9876543210 and xs3cr3t-Value_2", "***0 and x***_2"),
        ("authPassword_s3cr3t-Value", "authPassword_***"),
        ("s3cr3t-Values3cr3t-Value", "******"),
        ("invalid or expired bearer token", "invalid or expired bearer token"),
        ("the key was refused", "the key was refused"),
    ],
)
def test_what_is_masked(secrets, text, masked):
    assert secrets.redact(text) == masked


def test_an_access_token_added_later_is_masked_too(secrets):
    secrets.add("tok3n-given-by-the-server")
    assert secrets.redact("x_tok3n-given-by-the-server_y s3cr3t-Value") == "x_***_y ***"


def test_a_json_escaped_or_url_encoded_secret_is_masked():
    masker = SecretFilter()
    masker.set_secrets(['p@ss/"word"'])
    assert masker.redact(r'{"secret": "p@ss/\"word\""}') == '{"secret": "***"}'
    assert masker.redact("secret=p%40ss%2F%22word%22") == "secret=***"


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_the_filter_masks_message_and_traceback_and_keeps_every_record(secrets):
    try:
        raise RuntimeError("refused s3cr3t-Value")
    except RuntimeError as error:
        record = _record("%s failed", "s3cr3t-Value", exc=error)
    assert secrets.filter(record) is True
    text = logging.Formatter().format(record)
    assert "s3cr3t-Value" not in text
    assert "*** failed" in text
    assert "RuntimeError: refused ***" in text


def test_records_without_secrets_are_left_untouched(secrets):
    record = _record("METRIC: %s", "point")
    assert secrets.filter(record) is True
    assert (record.msg, record.args) == ("METRIC: %s", ("point",))


def test_a_secret_too_short_for_a_credential_is_masked_as_a_whole_word_only():
    masker = SecretFilter()
    masker.set_secrets(["k", "IncPw456"])
    assert masker.redact("Bearer k; sku, stock; xIncPw456") == "Bearer ***; sku, stock; x***"
