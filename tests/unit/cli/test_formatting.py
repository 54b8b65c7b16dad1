"""Tables, sizes and ages as docker prints them."""

from __future__ import annotations

import time

import pytest

from dockyard.cli import formatting as f


def test_tabwrite_min_width_and_padding():
    out = f.tabwrite(["DRIVER\tVOLUME NAME", "local\tdata"])
    assert out == "DRIVER    VOLUME NAME\nlocal     data\n"
    out = f.tabwrite(["CONTAINER ID\tIMAGE", "abcdef123456\tbusybox"])
    assert out == "CONTAINER ID   IMAGE\nabcdef123456   busybox\n"


def test_render_rows_table_header_and_quiet():
    rows = [{"Driver": "local", "Name": "a"}, {"Driver": "local", "Name": "bb"}]
    headers = {"Driver": "DRIVER", "Name": "VOLUME NAME"}
    out = f.render_rows(rows, None, "table {{.Driver}}\t{{.Name}}", headers)
    assert out.splitlines() == ["DRIVER    VOLUME NAME", "local     a", "local     bb"]
    assert f.render_rows(rows, "{{.Name}}", "", headers) == "a\nbb\n"
    assert f.render_rows(rows, None, "", headers, quiet_field="Name", quiet=True) == "a\nbb\n"
    assert f.render_rows(rows, "json", "", headers).splitlines()[0] == (
        '{"Driver":"local","Name":"a"}'
    )
    out = f.render_rows(rows, "table {{.Name}}", "", headers)
    assert out.splitlines() == ["VOLUME NAME", "a", "bb"]


def test_bad_template_is_a_format_error():
    with pytest.raises(f.FormatError):
        f.render_rows([{}], "{{.A", "", {})


@pytest.mark.parametrize(
    "n,want",
    [
        (0, "0B"),
        (999, "999B"),
        (1000, "1kB"),
        (1234567, "1.235MB"),
        (4_300_000, "4.3MB"),
        (1_000_000_000, "1GB"),
    ],
)
def test_human_size(n, want):
    assert f.human_size(n) == want


def test_bytes_size():
    assert f.bytes_size(1536) == "1.5KiB"
    assert f.bytes_size(24 * 1024**3) == "24GiB"


@pytest.mark.parametrize(
    "s,want",
    [
        (0.5, "Less than a second"),
        (1, "1 second"),
        (3, "3 seconds"),
        (61, "About a minute"),
        (150, "2 minutes"),
        (3600, "About an hour"),
        (7200, "2 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration(s, want):
    assert f.human_duration(s) == want


def test_time_ago_and_parse_time():
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 125)) + ".123456789Z"
    assert f.time_ago(stamp, now) == "2 minutes ago"
    assert f.parse_time("0001-01-01T00:00:00Z") is None
    assert abs(f.parse_time("2024-01-01T00:00:00+01:00") - 1704063600) < 1e-6
