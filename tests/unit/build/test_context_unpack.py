"""The daemon's side of the build context: unpacked safely (no escape through `..`, absolute
names, symlinked parents or hard links), .dockerignore applied, sources found with Docker's
rules and errors."""

from __future__ import annotations

import gzip
import io
import os
import tarfile

import pytest

from dockyard.build.contextdir import BuildContext, ContextError
from dockyard.build.copier import CopyError, find_sources, normalize_dest
from dockyard.errors import NotFound


def _tar(entries: list[tuple[str, object]], compress: bool = False) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, value in entries:
            info = tarfile.TarInfo(name)
            if value == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(value, tuple) and value[0] in ("sym", "hard"):
                info.type = tarfile.SYMTYPE if value[0] == "sym" else tarfile.LNKTYPE
                info.linkname = value[1]
                tar.addfile(info)
            else:
                data = value if isinstance(value, bytes) else str(value).encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return io.BytesIO(gzip.compress(raw) if compress else raw)


def test_unpack_plain_and_gzip(tmp_path) -> None:
    for compress in (False, True):
        ctx = BuildContext.from_tar(
            _tar([("Dockerfile", "FROM x\n"), ("d/f", "F"), ("l", ("sym", "d/f"))], compress),
            str(tmp_path),
        )
        with ctx:
            assert ctx.read_dockerfile("Dockerfile") == b"FROM x\n"
            assert open(os.path.join(ctx.root, "d/f")).read() == "F"
            assert os.readlink(os.path.join(ctx.root, "l")) == "d/f"
        assert not os.path.exists(ctx.root)


@pytest.mark.parametrize(
    "entries",
    [
        [("../evil", "x")],
        [("a/../../evil", "x")],
        [("link", ("sym", "/tmp")), ("link/evil", "x")],
        [("h", ("hard", "../outside"))],
    ],
    ids=["dotdot", "nested-dotdot", "through-symlink", "hard-link-out"],
)
def test_escapes_are_refused(tmp_path, entries) -> None:
    before = set(os.listdir(tmp_path))
    with pytest.raises(ContextError):
        BuildContext.from_tar(_tar(entries), str(tmp_path))
    assert set(os.listdir(tmp_path)) == before  # nothing left behind
    assert not os.path.exists("/tmp/evil")


def test_absolute_names_stay_inside(tmp_path) -> None:
    with BuildContext.from_tar(_tar([("/abs/f", "x")]), str(tmp_path)) as ctx:
        assert open(os.path.join(ctx.root, "abs/f")).read() == "x"


def test_dockerignore_is_applied_and_dockerfile_still_readable(tmp_path) -> None:
    entries = [(".dockerignore", "Dockerfile\n*.log\n!keep.log\n"), ("Dockerfile", "FROM x\n"),
               ("a.log", "a"), ("keep.log", "k"), ("sub/b.log", "b")]  # fmt: skip
    with BuildContext.from_tar(_tar(entries), str(tmp_path)) as ctx:
        assert ctx.read_dockerfile("Dockerfile") == b"FROM x\n"
        ctx.apply_dockerignore()
        assert sorted(os.listdir(ctx.root)) == [".dockerignore", "keep.log", "sub"]
        assert os.listdir(os.path.join(ctx.root, "sub")) == ["b.log"]  # *.log is top-level only


def test_missing_dockerfile(tmp_path) -> None:
    with BuildContext.from_tar(_tar([("dockerfile", "FROM y\n")]), str(tmp_path)) as ctx:
        assert ctx.read_dockerfile("Dockerfile") == b"FROM y\n"  # the lower-case fallback
        with pytest.raises(NotFound, match="Cannot locate specified Dockerfile: other"):
            ctx.read_dockerfile("other")


def test_sources_and_their_errors(tmp_path) -> None:
    entries = [("a.txt", "A"), ("b.txt", "B"), ("dir/c.txt", "C"), ("out", ("sym", "/etc/passwd")),
               ("in", ("sym", "/a.txt"))]  # fmt: skip
    with BuildContext.from_tar(_tar(entries), str(tmp_path)) as ctx:
        names = [s.name for s in find_sources(ctx.root, ["*.txt"], from_context=True)]
        assert names == ["a.txt", "b.txt"]
        assert [s.name for s in find_sources(ctx.root, ["./dir/../a.txt"], from_context=True)] \
            == ["a.txt"]  # fmt: skip
        (src,) = find_sources(ctx.root, ["in"], from_context=True)
        assert (src.name, src.root, src.path, src.is_dir) == ("in", ctx.root, "/a.txt", False)
        (root,) = find_sources(ctx.root, ["."], from_context=True)
        assert root.is_dir and root.path == "/"
        with pytest.raises(
            CopyError, match=r"^forbidden path outside the build context: \.\./x \(\)$"
        ):
            find_sources(ctx.root, ["../x"], from_context=True)
        with pytest.raises(CopyError, match="excluded by .dockerignore: stat out: file does not"):
            find_sources(ctx.root, ["out"], from_context=True)  # resolved inside the context
        with pytest.raises(CopyError, match="^no source files were specified$"):
            find_sources(ctx.root, ["*.md"], from_context=True)
        (d,) = find_sources(ctx.root, ["dir"], from_context=True)
        assert len(ctx.hash_path(d)) == 64


@pytest.mark.parametrize(
    ("workdir", "dest", "want"),
    [("/app", ".", "/app"), ("/app", "sub/", "/app/sub/"), ("/", "x", "/x"),
     ("/app", "/abs/", "/abs/"), ("", "./", "/"), ("/app", "../up", "/up")],
)  # fmt: skip
def test_normalize_dest(workdir: str, dest: str, want: str) -> None:
    assert normalize_dest(workdir, dest) == want


def test_hard_links_and_replaced_entries(tmp_path) -> None:
    entries = [("d/f", "F"), ("d/h", ("hard", "d/f")), ("l", ("sym", "d")), ("x", "dir"),
               ("x/y", "Y"), ("x", "now a file")]  # fmt: skip
    with BuildContext.from_tar(_tar(entries), str(tmp_path)) as ctx:
        st_f, st_h = os.stat(os.path.join(ctx.root, "d/f")), os.stat(os.path.join(ctx.root, "d/h"))
        assert st_f.st_ino == st_h.st_ino and st_f.st_nlink == 2
        assert open(os.path.join(ctx.root, "x")).read() == "now a file"
    for bad, error in (
        ([("l", ("sym", "/etc")), ("h", ("hard", "l/passwd"))], "invalid path"),  # via a link
        ([("l", ("sym", "/etc/passwd")), ("h", ("hard", "l"))], "invalid hard link"),  # a link
        ([("h", ("hard", "no/such/file"))], "invalid hard link"),
        ([("d", "dir"), ("h", ("hard", "d"))], "invalid hard link"),
    ):
        with pytest.raises(ContextError, match=error):
            BuildContext.from_tar(_tar(bad), str(tmp_path))
    assert os.listdir(tmp_path) == []  # each half-unpacked context was removed


def test_dockerignore_keeps_what_it_reincludes(tmp_path) -> None:
    entries = [(".dockerignore", "docs\n!docs/keep\nl\n"), ("docs/a", "a"), ("docs/keep", "k"),
               ("l", ("sym", "/etc")), ("docs/sub/b", "b")]  # fmt: skip
    with BuildContext.from_tar(_tar(entries), str(tmp_path)) as ctx:
        ctx.apply_dockerignore()
        assert sorted(os.listdir(ctx.root)) == [".dockerignore", "docs"]
        assert os.listdir(os.path.join(ctx.root, "docs")) == ["keep"]
