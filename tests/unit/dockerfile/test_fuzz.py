"""Acceptance 5 of issue 6: any input parses or fails with a parse error naming a line."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.dockerfile.parser import KEYWORDS, DockerfileParseError, parse

_LINE = re.compile(r"^dockerfile parse error on line (\d+): ")


def check(text: str) -> None:
    lines = max(1, len(text.split("\n")))
    try:
        df = parse(text)
    except DockerfileParseError as err:
        match = _LINE.match(str(err))
        assert match is not None, str(err)
        assert int(match.group(1)) == err.line
        assert 1 <= err.line <= lines
        return
    env = {"A": "a b", "E": ""}
    for stage in df.stages:
        for instruction in [stage.from_instruction, *stage.instructions]:
            assert instruction is not None
            assert 1 <= instruction.line <= instruction.end_line <= lines
            try:
                instruction.expand(env)
            except DockerfileParseError as err:
                assert err.line == instruction.line


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    check(text)


@FUZZ
@given(st.binary(max_size=120))
def test_random_bytes(data: bytes) -> None:
    try:
        df = parse(data)
    except DockerfileParseError as err:
        assert err.line >= 1
    else:
        assert df.stages or df.meta_args


PIECES = st.sampled_from(
    [
        " ", "  ", "\t", "\\", "`", "\n", "\r\n", "#", "=", "\"", "'", "[", "]", ",", "$",
        "${", "}", ":-", ":?", "<<", "<<-", "EOF", "--", "--from=", "--platform=", "--link",
        "--mount=", "--interval=", "--retries=", "AS", "x", "a b", "1s", "-1", "NONE", "CMD",
        '["a"]', '["a", 1]', "[]", "/", "*", "escape=", "syntax=", "\"EOF\"",
    ]
)  # fmt: skip
WORDS = st.lists(PIECES, max_size=8).map("".join)
KEYWORD = st.sampled_from([*KEYWORDS, "from", "run", "FOO", "#", "# escape=`", ""])
LINE = st.tuples(KEYWORD, WORDS).map(lambda kw_rest: f"{kw_rest[0]} {kw_rest[1]}")


@FUZZ
@given(st.lists(LINE, max_size=10))
def test_instruction_like_text(lines: list[str]) -> None:
    check("\n".join(lines))


@FUZZ
@given(st.lists(LINE, max_size=8))
def test_instruction_like_text_after_from(lines: list[str]) -> None:
    check("\n".join(["# escape=\\", "FROM busybox AS base", *lines]))
