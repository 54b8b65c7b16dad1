"""dockyard.pathmatch: Go's path.Match, shared by COPY wildcards and image reference filters."""

from __future__ import annotations

import pytest

from dockyard.pathmatch import BadPattern, path_match


# cases from Go's path/match_test.go
@pytest.mark.parametrize(
    ("pattern", "name", "matched"),
    [
        ("abc", "abc", True),
        ("*", "abc", True),
        ("*c", "abc", True),
        ("a*", "a", True),
        ("a*", "abc", True),
        ("a*", "ab/c", False),
        ("a*/b", "abc/b", True),
        ("a*/b", "a/c/b", False),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
        ("a*b?c*x", "abxbbxdbxebxczzx", True),
        ("a*b?c*x", "abxbbxdbxebxczzy", False),
        ("ab[c]", "abc", True),
        ("ab[b-d]", "abc", True),
        ("ab[e-g]", "abc", False),
        ("ab[^c]", "abc", False),
        ("ab[^b-d]", "abc", False),
        ("ab[^e-g]", "abc", True),
        ("a\\*b", "a*b", True),
        ("a\\*b", "ab", False),
        ("a?b", "a☺b", True),
        ("a[^a]b", "a☺b", True),
        ("a???b", "a☺b", False),
        ("[a-ζ]*", "α", True),
        ("*[a-ζ]", "A", False),
        ("a?b", "a/b", False),
        ("a*b", "a/b", False),
        ("[\\]a]", "]", True),
        ("[\\-]", "-", True),
        ("[x\\-]", "x", True),
        ("[x\\-]", "z", False),
        ("[\\-x]", "-", True),
        ("*x", "xxx", True),
        ("[z-a]", "m", False),
    ],
)
def test_go_cases(pattern: str, name: str, matched: bool) -> None:
    assert path_match(pattern, name) is matched


@pytest.mark.parametrize(
    "pattern", ["[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c", "[a-b-c]", "[", "[^", "a[", "[a-"]
)
def test_bad_patterns(pattern: str) -> None:
    with pytest.raises(BadPattern, match="syntax error in pattern"):
        path_match(pattern, "a")
