"""Docker's variable substitution (BuildKit's ProcessWord / ProcessWords)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.dockerfile.shell import SubstitutionError, expand, expand_words

ENV = {"A": "a", "E": "", "S": "x y", "P": "/usr/local/bin", "N1": "one"}

WORD_CASES = [
    ("$A", "a"),
    ("${A}", "a"),
    ("x${A}y", "xay"),
    ("$Ab", ""),
    ("${A}b", "ab"),
    ("$A/b", "a/b"),
    ("$N1", "one"),
    ("$1", ""),
    ("$", "$"),
    ("a$", "a$"),
    ("$-", ""),
    ("${U:-d}", "d"),
    ("${E:-d}", "d"),
    ("${E-d}", ""),
    ("${U-d}", "d"),
    ("${A:-d}", "a"),
    ("${U:-two words}", "two words"),
    ("${A:+r}", "r"),
    ("${E:+r}", ""),
    ("${E+r}", "r"),
    ("${U+r}", ""),
    ("${U:-${A}}", "a"),
    ("${U:-$A-x}", "a-x"),
    ("${A:?msg}", "a"),
    ("'$A'", "$A"),
    ('"$A"', "a"),
    ('"${A}x"', "ax"),
    ('"\\$A"', "$A"),
    ("\\$A", "$A"),
    ('"a\\"b"', 'a"b'),
    ('"a\\b"', "a\\b"),
    ('"a\\\\b"', "a\\b"),
    ("a\\ b", "a b"),
    ("'a\\b'", "a\\b"),
    ("a'b'\"c\"", "abc"),
    ('"it\'s"', "it's"),
    ("${P##*/}", "bin"),
    ("${P#*/}", "usr/local/bin"),
    ("${P%/*}", "/usr/local"),
    ("${P%%/*}", ""),
    ("${P%/nope}", "/usr/local/bin"),
    ("${P/local/opt}", "/usr/opt/bin"),
    ("${S// /_}", "x_y"),
    ("a b\tc", "a b\tc"),  # ProcessWord never splits
    ("$S", "x y"),
    ("trailing\\", "trailing"),
]


@pytest.mark.parametrize(("word", "expected"), WORD_CASES)
def test_expand(word: str, expected: str) -> None:
    assert expand(word, ENV) == expected


WORDS_CASES = [
    ("a b  c", ["a", "b", "c"]),
    ("$S z", ["x", "y", "z"]),
    ('"$S" z', ["x y", "z"]),
    ("'' a", ["", "a"]),
    ("$E a", ["a"]),
    ("a\\ b c", ["a b", "c"]),
    ("  ", []),
    ("80/tcp ${S}", ["80/tcp", "x", "y"]),
    ("x'y z'w", ["xy zw"]),
]


@pytest.mark.parametrize(("text", "expected"), WORDS_CASES)
def test_expand_words(text: str, expected: list[str]) -> None:
    assert expand_words(text, ENV) == expected


ERROR_CASES = [
    ("${U:?must be set}", "U: must be set"),
    ("${U?}", "U: is not allowed to be unset"),
    ("${E:?}", "E: is not allowed to be empty"),
    ("${", "syntax error: missing '}'"),
    ("${A", "syntax error: missing '}'"),
    ("${A:-x", "syntax error: missing '}'"),
    ("${}", "syntax error: bad substitution"),
    ("${:a}", "syntax error: bad substitution"),
    ("${A:x}", "unsupported modifier (:x) in substitution"),
    ("${A!}", "unsupported modifier (!) in substitution"),
    ("'abc", "unexpected end of statement while looking for matching single-quote"),
    ('"abc', "unexpected end of statement while looking for matching double-quote"),
]


@pytest.mark.parametrize(("word", "message"), ERROR_CASES)
def test_expand_errors(word: str, message: str) -> None:
    with pytest.raises(SubstitutionError) as info:
        expand(word, ENV)
    assert info.value.message == message
    assert info.value.status == 400


def test_backtick_escape() -> None:
    assert expand("`$A", ENV, escape="`") == "$A"
    assert expand("\\$A", ENV, escape="`") == "\\a"
    assert expand('"`"x"', ENV, escape="`") == '"x'


NAMES = st.from_regex(r"[A-Z_][A-Z0-9_]{0,5}", fullmatch=True)
SAFE = st.text(alphabet="abc xyz/._-:", max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(NAMES, SAFE, max_size=4), NAMES, SAFE)
def test_defaults_follow_shell_rules(env: dict[str, str], name: str, word: str) -> None:
    """${V:-w}, ${V-w}, ${V:+w} and ${V+w} agree with their definitions for any env."""
    value = env.get(name)
    assert expand(f"${{{name}:-{word}}}", env) == (value if value else word)
    assert expand(f"${{{name}-{word}}}", env) == (word if value is None else value)
    assert expand(f"${{{name}:+{word}}}", env) == (word if value else "")
    assert expand(f"${{{name}+{word}}}", env) == ("" if value is None else word)
    assert expand(f"'${{{name}}}'", env) == f"${{{name}}}"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="$\\{}:-+?#%/'\" abAE\t", max_size=30))
def test_any_input_expands_or_fails_cleanly(text: str) -> None:
    for func in (expand, expand_words):
        try:
            func(text, ENV)
        except SubstitutionError:
            pass
