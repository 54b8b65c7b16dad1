"""dockyard.units: Go durations and go-units byte sizes (used by HEALTHCHECK and compose)."""

from __future__ import annotations

import pytest

from dockyard.units import (
    bytes_size,
    format_duration,
    human_duration,
    human_size,
    parse_bytes,
    parse_duration,
    parse_duration_ns,
)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("1s", 1_000_000_000),
        ("1m30s", 90_000_000_000),
        ("1.5h", 5_400_000_000_000),
        ("300ms", 300_000_000),
        ("-2m", -120_000_000_000),
        ("+10us", 10_000),
        ("2h45m0.5s", 9_900_500_000_000),
        (".5s", 500_000_000),
        ("1ns", 1),
    ],
)
def test_parse_duration(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        ("5", 'time: missing unit in duration "5"'),
        ("1x", 'time: unknown unit "x" in duration "1x"'),
        ("s", 'time: invalid duration "s"'),
        (".s", 'time: invalid duration ".s"'),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration_ns(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (500_000_000, "500ms"),
        (1_500_000_000, "1.5s"),
        (1_500, "1.5µs"),
        (-60_000_000_000, "-1m0s"),
    ],
)
def test_format_duration(ns: int, text: str) -> None:
    assert format_duration(ns) == text
    assert parse_duration_ns(text) == ns


def test_parse_duration_seconds() -> None:
    assert parse_duration("1m30s") == 90.0


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (1024, 1024),
        ("512m", 512 * 1024**2),
        ("1g", 1024**3),
        ("1GB", 1024**3),
        ("1.5k", 1536),
        ("64MiB", 64 * 1024**2),
        ("100", 100),
        ("100b", 100),
    ],
)
def test_parse_bytes(value: str | int, size: int) -> None:
    assert parse_bytes(value) == size


@pytest.mark.parametrize("value", ["", "lots", "1x", "-1m", True])
def test_parse_bytes_errors(value: object) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_bytes(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4, "Less than a second"),
        (1, "1 second"),
        (59.9, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (120, "2 minutes"),
        (3599, "59 minutes"),
        (3600, "About an hour"),
        (5399, "About an hour"),
        (5400, "2 hours"),  # go-units rounds hours to the nearest
        (47 * 3600, "47 hours"),
        (48 * 3600, "2 days"),
        (14 * 86400, "2 weeks"),
        (60 * 86400, "2 months"),
        (729 * 86400, "24 months"),
        (730 * 86400, "2 years"),
        (3 * 365 * 86400 + 86400 * 100, "3 years"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_sizes_as_go_units_prints_them():
    assert human_size(0) == "0B"
    assert human_size(999) == "999B"
    assert human_size(1234567) == "1.235MB"
    assert human_size(1234567, 3) == "1.23MB"
    assert human_size(4.2e6) == "4.2MB"
    assert bytes_size(1536 * 1024**2) == "1.5GiB"
    assert bytes_size(100) == "100B"
