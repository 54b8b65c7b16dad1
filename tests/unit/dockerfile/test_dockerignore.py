""".dockerignore: reading, matching (patternmatcher's rules) and walking a context."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.dockerfile.dockerignore import (
    DockerignoreError,
    PatternMatcher,
    build_file_patterns,
    go_clean,
    read_patterns,
    walk_context,
)


def test_read_patterns() -> None:
    text = (
        "\ufeff# comment\n\n  *.md  \n!README.md\n! keep\n/abs/path/\n./dot/../x\n #not comment\r\n"
    )
    assert read_patterns(text) == [
        "*.md",
        "!README.md",
        "!keep",
        "abs/path",
        "x",
        "#not comment",
    ]


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [("", "."), ("a//b/./c/", "a/b/c"), ("../a", "../a"), ("/../a", "/a"), ("a/..", ".")],
)
def test_go_clean(path: str, cleaned: str) -> None:
    assert go_clean(path) == cleaned


# (patterns, path, excluded)
MATCH_CASES = [
    (["*.md"], "x.md", True),
    (["*.md"], "dir/x.md", False),
    (["*/*.md"], "dir/x.md", True),
    (["**/*.md"], "dir/sub/x.md", True),
    (["**/*.md"], "x.md", True),
    (["**"], "anything/at/all", True),
    (["dir"], "dir/deep/file", True),
    (["dir/"], "dir/file", True),
    (["dir/**"], "dir/a/b", True),
    (["dir/**"], "dirx", False),
    (["**/node_modules"], "a/b/node_modules/x/y", True),
    (["a/**/b"], "a/b", True),
    (["a/**/b"], "a/x/y/b", True),
    (["a/**/b"], "a/x/y/c", False),
    (["?.txt"], "a.txt", True),
    (["?.txt"], "ab.txt", False),
    (["[a-c].txt"], "b.txt", True),
    (["[a-c].txt"], "d.txt", False),
    (["file.txt"], "fileatxt", False),  # the dot is literal
    (["a+b(c)"], "a+b(c)", True),
    (["\\*"], "*", True),
    (["*", "!keep"], "keep", False),
    (["*", "!keep"], "other", True),
    (["!keep", "*"], "keep", True),  # the last match wins
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs", "!docs/README.md"], "docs/other.md", True),
    (["*.log", "!important.log", "important.log"], "important.log", True),
    (["/abs"], "abs/x", True),
    (["**/*.pyc"], "pkg/__pycache__/m.pyc", True),
]


@pytest.mark.parametrize(("patterns", "path", "excluded"), MATCH_CASES)
def test_matches(patterns: list[str], path: str, excluded: bool) -> None:
    assert PatternMatcher(read_patterns("\n".join(patterns))).matches(path) is excluded


def test_bad_patterns() -> None:
    with pytest.raises(DockerignoreError):
        PatternMatcher(["!"])
    with pytest.raises(DockerignoreError):
        PatternMatcher(["[a-"])


def test_build_files_always_sent() -> None:
    patterns = build_file_patterns(["*", "!src"], "docker/Dockerfile.dev")
    assert patterns == ["*", "!src", "!.dockerignore", "!docker/Dockerfile.dev"]
    matcher = PatternMatcher(patterns)
    assert not matcher.matches(".dockerignore")
    assert not matcher.matches("docker/Dockerfile.dev")
    assert matcher.matches("docker/other")
    assert build_file_patterns(["*.md"]) == ["*.md"]


@pytest.fixture
def context(tmp_path) -> str:
    files = [
        "Dockerfile",
        ".dockerignore",
        "app.py",
        "README.md",
        "notes.md",
        "node_modules/lib/index.js",
        "docs/guide.md",
        "docs/keep/me.txt",
        "docs/drop.txt",
        "src/main.py",
        "src/cache/x.pyc",
        ".git/HEAD",
    ]
    for name in files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    os.symlink("/etc/passwd", tmp_path / "link")
    (tmp_path / ".dockerignore").write_text(
        "# build context\n.git\n*.md\n!README.md\nnode_modules\ndocs\n!docs/keep\n"
        "**/*.pyc\nDockerfile\n.dockerignore\nlink\n"
    )
    return str(tmp_path)


def test_walk_context(context: str) -> None:
    assert list(walk_context(context)) == [
        ".dockerignore",
        "Dockerfile",
        "README.md",
        "app.py",
        "docs/keep",
        "docs/keep/me.txt",
        "src",
        "src/cache",
        "src/main.py",
    ]


def test_walk_context_without_dockerignore(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").write_text("")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    os.symlink("a", tmp_path / "to-a")
    assert list(walk_context(str(tmp_path))) == ["Dockerfile", "a", "a/b", "to-a"]


def test_walk_context_custom_dockerfile(context: str) -> None:
    paths = list(walk_context(context, ["*", "!src/main.py"], dockerfile="docs/drop.txt"))
    assert paths == [".dockerignore", "docs/drop.txt", "src/main.py"]


PATTERN_TEXT = st.text(alphabet="*?[]!^/\\.ab-# \n", max_size=30)
PATH = st.lists(st.sampled_from(["a", "b", ".a", "a.b", "*", "[x]"]), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(PATTERN_TEXT, PATH)
def test_any_patterns_compile_or_fail_cleanly(text: str, parts: list[str]) -> None:
    try:
        matcher = PatternMatcher(read_patterns(text))
    except DockerignoreError:
        return
    assert matcher.matches("/".join(parts)) in (True, False)


@settings(max_examples=200, deadline=None)
@given(PATH, PATH)
def test_a_directory_pattern_excludes_everything_below(directory: list[str], below: list[str]):
    """Without exceptions, excluding a literal directory excludes all of its contents."""
    literal = [part for part in directory if not set(part) & set("*?[]\\")]
    if not literal:
        return
    matcher = PatternMatcher(["/".join(literal)])
    assert matcher.matches("/".join(literal + below))
