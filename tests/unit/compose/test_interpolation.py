"""Compose interpolation and .env parsing, with tables and hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.compose import ComposeError
from dockyard.compose.dotenv import parse_dotenv
from dockyard.compose.interpolation import (
    Interpolator,
    InvalidTemplate,
    MissingRequired,
    interpolate,
)

ENV = {"A": "a", "E": "", "N": "x y"}

CASES = [
    ("$A", "a"),
    ("${A}", "a"),
    ("pre-${A}-post", "pre-a-post"),
    ("$A$A", "aa"),
    ("$$A", "$A"),
    ("$${A}", "${A}"),
    ("$$$A", "$a"),
    ("5$", "5$"),
    ("$ 1", "$ 1"),
    ("$1", "$1"),
    ("${U:-d}", "d"),
    ("${E:-d}", "d"),
    ("${E-d}", ""),
    ("${U-d}", "d"),
    ("${A:+r}", "r"),
    ("${E:+r}", ""),
    ("${E+r}", "r"),
    ("${U+r}", ""),
    ("${U:-${A:-z}}", "a"),
    ("${U:-{braces}}x", "{braces}x"),
    ("${U:-a:b/c}", "a:b/c"),
    ("${N}", "x y"),
    ("$U", ""),
]


@pytest.mark.parametrize(("template", "expected"), CASES)
def test_substitute(template: str, expected: str) -> None:
    assert Interpolator(ENV).substitute(template) == expected


@pytest.mark.parametrize(
    ("template", "error", "message"),
    [
        ("${U:?need it}", MissingRequired, "required variable U is missing a value: need it"),
        ("${E:?}", MissingRequired, "required variable E is missing a value"),
        ("${U?}", MissingRequired, "required variable U is missing a value"),
        ("${", InvalidTemplate, "${"),
        ("${A", InvalidTemplate, "${A"),
        ("${}", InvalidTemplate, "${}"),
        ("${1A}", InvalidTemplate, "${1A}"),
        ("${A B}", InvalidTemplate, "${A B}"),
        ("${A!x}", InvalidTemplate, "${A!x}"),
    ],
)
def test_substitute_errors(template: str, error: type, message: str) -> None:
    with pytest.raises(error) as info:
        Interpolator(ENV).substitute(template)
    assert str(info.value) == message


def test_set_but_empty_with_question_mark_is_allowed() -> None:
    assert Interpolator(ENV).substitute("${E?}") == ""


def test_interpolate_only_values_and_names_paths() -> None:
    data = {"services": {"$A": {"image": "$A", "ports": ["${A}:1", 2, None, True]}}}
    assert interpolate(data, ENV, "f.yaml") == {
        "services": {"$A": {"image": "a", "ports": ["a:1", 2, None, True]}}
    }
    with pytest.raises(ComposeError) as info:
        interpolate({"x": [{"y": "${Q:?no}"}]}, ENV, "f.yaml")
    assert str(info.value) == (
        "f.yaml: error while interpolating x[0].y: required variable Q is missing a value: no"
    )


TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(TEXT, st.dictionaries(NAMES, TEXT, max_size=4))
def test_escaped_dollars_round_trip(text: str, env: dict[str, str]) -> None:
    """Any text with each $ doubled interpolates back to itself, whatever the environment."""
    assert Interpolator(env).substitute(text.replace("$", "$$")) == text


@settings(max_examples=300, deadline=None)
@given(NAMES, st.dictionaries(NAMES, TEXT, max_size=4), TEXT.filter(lambda t: "$" not in t))
def test_modifiers_follow_their_definitions(name: str, env: dict[str, str], word: str) -> None:
    word = word.replace("}", "")
    value = env.get(name)
    sub = Interpolator(env).substitute

    def ref(modifier: str = "") -> str:
        return "${" + name + (modifier + word if modifier else "") + "}"

    assert sub(ref()) == (value or "")
    assert sub(ref(":-")) == (value if value else word)
    assert sub(ref("-")) == (word if value is None else value)
    assert sub(ref(":+")) == (word if value else "")
    assert sub(ref("+")) == ("" if value is None else word)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="${}:-+?AEU_ x", max_size=20))
def test_any_template_substitutes_or_fails_cleanly(template: str) -> None:
    try:
        Interpolator(ENV).substitute(template)
    except (InvalidTemplate, MissingRequired):
        pass


DOTENV_CASES = [
    ("A=1\nB = two \n", {"A": "1", "B": "two"}),
    ("# comment\n\nexport C=3\n", {"C": "3"}),
    ("D=value # comment\nE=not#comment\n", {"D": "value", "E": "not#comment"}),
    ("F='single $A \\n'\n", {"F": "single $A \\n"}),
    ('G="double $A\\nnext \\"q\\" \\$A"\n', {"G": 'double 1\nnext "q" $A'}),
    ('H="multi\nline"\nI=after\n', {"H": "multi\nline", "I": "after"}),
    ("J=${A}-${MISSING:-dflt}\n", {"J": "1-dflt"}),
    ("K=\n", {"K": ""}),
    ("FROM_OUTSIDE\nNOT_OUTSIDE\n", {"FROM_OUTSIDE": "outer"}),
    ("L=a\r\nM=b\r\n", {"L": "a", "M": "b"}),
    ("dotted.name-x=1\n", {"dotted.name-x": "1"}),
]


@pytest.mark.parametrize(("text", "expected"), DOTENV_CASES)
def test_dotenv(text: str, expected: dict[str, str]) -> None:
    outer = {"FROM_OUTSIDE": "outer"}
    got = parse_dotenv(
        ("A=1\n" if "$A" in text or "${A}" in text else "") + text, ".env", outer.get
    )
    got.pop("A", None) if "A" not in expected else None
    assert got == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A='open\n", ".env: line 1: unterminated quoted value"),
        ("B C=1\n", '.env: line 1: unexpected character "C" in variable name "B C=1"'),
        ("=1\n", '.env: line 1: unexpected character in variable name "=1"'),
        ("X=1\nR=${Q:?needed}\n", ".env: line 2: required variable Q is missing a value: needed"),
    ],
)
def test_dotenv_errors(text: str, message: str) -> None:
    with pytest.raises(ComposeError) as info:
        parse_dotenv(text, ".env")
    assert str(info.value) == message
