"""The Go-template subset against what Go's text/template prints for docker's formats."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.cli.gotemplate import Template, TemplateError, go_str, render

CTR = {
    "ID": "abc123",
    "Names": ["web", "alias"],
    "State": {"Status": "running", "Running": True, "ExitCode": 0, "Pid": 42},
    "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "v", "a": "b"}, "Cmd": None},
    "Count": 3,
    "Empty": [],
}


@pytest.mark.parametrize(
    "src,want",
    [
        ("{{.ID}}", "abc123"),
        ("{{.State.Status}}", "running"),
        ("{{.State.Running}}", "true"),
        ("{{.State.Pid}}", "42"),
        ("{{.Missing}}", "<no value>"),
        ("{{.Config.Cmd}}", "<nil>"),
        ("{{.Names}}", "[web alias]"),
        ("{{.Config.Labels}}", "map[a:b k:v]"),
        ('{{join .Names ","}}', "web,alias"),
        ("{{json .Config.Labels}}", '{"k":"v","a":"b"}'),
        ("{{json .Names}}", '["web","alias"]'),
        ("{{upper .ID}}", "ABC123"),
        ('{{lower "ABC"}}', "abc"),
        ("{{.ID | upper}}", "ABC123"),
        ('{{index .Config.Labels "k"}}', "v"),
        ('{{index .Config.Labels "nope"}}', "<no value>"),
        ("{{index .Names 1}}", "alias"),
        ("{{len .Names}}", "2"),
        ("{{range .Names}}[{{.}}]{{end}}", "[web][alias]"),
        ("{{range $i, $n := .Names}}{{$i}}={{$n}} {{end}}", "0=web 1=alias "),
        ("{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}};{{end}}", "a:b;k:v;"),
        ("{{range .Empty}}x{{else}}none{{end}}", "none"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ('{{if eq .State.Status "exited"}}E{{else if eq .Count 3}}three{{end}}', "three"),
        ("{{if not .Empty}}empty{{end}}", "empty"),
        ("{{if and .State.Running .Count}}yes{{end}}", "yes"),
        ('{{or .Empty "dflt"}}', "dflt"),
        ("{{with .State}}{{.Status}}/{{.Pid}}{{end}}", "running/42"),
        ("{{with .Empty}}x{{else}}y{{end}}", "y"),
        ('a {{- " b " -}} c', "a b c"),
        ("{{/* comment */}}x", "x"),
        ('{{printf "%s-%d" .ID .Count}}', "abc123-3"),
        ('{{printf "%5s|" "ab"}}', "   ab|"),
        ("{{$x := .ID}}{{$x}}", "abc123"),
        ("{{(index .Names 0) | upper}}", "WEB"),
        ("{{range .Config.Env}}{{println .}}{{end}}", "A=1\nB=2\n"),
        ('{{split "a:b" ":"}}', "[a b]"),
        ("{{truncate .ID 3}}", "abc"),
        ("{{.State.ExitCode}}", "0"),
        ("{{gt .Count 2}}", "true"),
        ("{{$.ID}}", "abc123"),
        ("{{range .Names}}{{$.ID}}{{end}}", "abc123abc123"),
        ("{{json .}}", None),
    ],
)
def test_render(src, want):
    got = render(src, CTR)
    if want is None:
        import json

        assert json.loads(got) == CTR
    else:
        assert got == want


def test_method_field_with_argument():
    row = {"Label": lambda k: {"x": "1"}.get(k, "")}
    assert render('{{.Label "x"}}', row) == "1"


@pytest.mark.parametrize(
    "src",
    [
        "{{",
        "{{if .A}}x",
        "{{end}}",
        "{{nosuch .A}}",
        "{{.A | }}",
        "{{range}}{{end}}",
        '{{"unterminated}}',
    ],
)
def test_errors(src):
    with pytest.raises(TemplateError):
        Template(src).execute({"A": 1})


def test_field_of_a_string_is_an_error():
    with pytest.raises(TemplateError):
        render("{{.ID.Sub}}", CTR)


def test_go_str():
    assert go_str(1.0) == "1"
    assert go_str(1.5) == "1.5"
    assert go_str(False) == "false"
    assert go_str({"b": [1, 2], "a": None}) == "map[a:<nil> b:[1 2]]"


@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=50))
def test_plain_text_passes_through(text):
    assert render(text, {}) == text


@given(
    st.dictionaries(
        st.from_regex(r"[A-Z][a-z]{0,5}", fullmatch=True), st.text(max_size=10), max_size=5
    )
)
def test_every_field_renders_its_value(d):
    for k, v in d.items():
        assert render("{{." + k + "}}", d) == v
