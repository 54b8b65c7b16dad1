"""A table of Dockerfiles, each with what Docker's classic builder makes of it: parts of the
image config, files in the image, the output, or the error (Docker's words).

Expectations are written from Docker's documented rules, not from our output.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import dataclass, field
from typing import Any

import pytest
from buildsupport import Entry, build, read_tree

from dockyard.images.reference import is_image_id  # noqa: F401

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ABSENT = None


def _compressed(kind: str, files: dict[str, str]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode=f"w:{kind}") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def _tar_with(entries: list[tarfile.TarInfo], data: bytes = b"x") -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for info in entries:
            if info.isreg():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return raw.getvalue()


def _entry(name: str, mode: int = 0o644, link: str | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = mode
    if link is not None:
        info.type, info.linkname = tarfile.SYMTYPE, link
    return info


def _targz(files: dict[str, str]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def F(data: str | bytes, mode: int | None = None, uid: int = 0, gid: int = 0) -> Entry:
    return Entry("file", data.encode() if isinstance(data, str) else data, uid, gid, mode or -1)


@dataclass
class Case:
    name: str
    dockerfile: str
    files: dict[str, Any] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # keys of the image's "config"
    tree: dict[str, Entry | None] = field(default_factory=dict)
    error: str | None = None
    output: list[str] = field(default_factory=list)
    not_output: list[str] = field(default_factory=list)
    history: list[str] | None = None  # the created_by of the steps after the base's
    empty_layers: list[bool] | None = None
    doc: dict[str, Any] = field(default_factory=dict)  # top-level keys of the image config


B = "FROM busybox\n"
CASES = [
    # --- ENV and substitution ---
    Case(
        "env-both-forms",
        B + 'ENV A=1 B="2 3"\nENV C 4 5\n',
        config={"Env": [PATH, "A=1", "B=2 3", "C=4 5"]},
        history=["/bin/sh -c #(nop)  ENV A=1 B=2 3", "/bin/sh -c #(nop)  ENV C=4 5"],
        empty_layers=[True, True],
    ),
    Case(
        "env-replaced-in-place", B + "ENV A=1 B=2\nENV A=3\n", config={"Env": [PATH, "A=3", "B=2"]}
    ),
    Case(
        "env-substitution",
        B + "ENV A=x\nENV B=${A}y C=$A D=\\$A\n",
        config={"Env": [PATH, "A=x", "B=xy", "C=x", "D=$A"]},
    ),
    Case(
        "substitution-modifiers",
        B + "ENV A=1\nENV B=${NOPE:-def} C=${A:+alt} D=x${NOPE:+alt}\n",
        config={"Env": [PATH, "A=1", "B=def", "C=alt", "D=x"]},
    ),
    Case(
        "env-same-line-sees-old-values",
        B + "ENV A=1\nENV A=2 B=$A\n",
        config={"Env": [PATH, "A=2", "B=1"]},
    ),
    # --- LABEL ---
    Case(
        "labels",
        B + 'LABEL a=b "c d"=e\nLABEL a=2 f=$NOPE\n',
        config={"Labels": {"a": "2", "c d": "e", "f": ""}},
        history=["/bin/sh -c #(nop)  LABEL a=b c d=e", "/bin/sh -c #(nop)  LABEL a=2 f="],
    ),
    Case(
        "label-option",
        B + 'CMD ["x"]\n',
        kwargs={"labels": {"z": "1", "y": "$A"}},
        config={"Labels": {"y": "$A", "z": "1"}},
        output=["Step 3/4 : LABEL y=$A\n", "Step 4/4 : LABEL z=1\n"],
    ),
    # --- EXPOSE ---
    Case(
        "expose-forms",
        B + "ARG P=90\nEXPOSE 80 443/udp 8000-8002 $P 53/UDP\n",
        config={
            "ExposedPorts": {
                "80/tcp": {},
                "443/udp": {},
                "8000/tcp": {},
                "8001/tcp": {},
                "8002/tcp": {},
                "90/tcp": {},
                "53/udp": {},
            }
        },
        history=[
            "/bin/sh -c #(nop)  ARG P=90",
            "/bin/sh -c #(nop)  EXPOSE 90 443/udp 53/UDP 80 8000-8002",  # sorted as written
        ],
    ),
    # --- CMD, ENTRYPOINT, SHELL ---
    Case(
        "cmd-shell-form",
        B + "CMD echo hi\n",
        config={"Cmd": ["/bin/sh", "-c", "echo hi"], "Entrypoint": None},
        history=['/bin/sh -c #(nop)  CMD ["/bin/sh" "-c" "echo hi"]'],
    ),
    Case("cmd-exec-form", B + 'CMD ["a", "b c"]\n', config={"Cmd": ["a", "b c"]}),
    Case(
        "entrypoint-resets-inherited-cmd",
        B + 'ENTRYPOINT ["top", "-b"]\n',
        config={"Entrypoint": ["top", "-b"], "Cmd": None},
        history=['/bin/sh -c #(nop)  ENTRYPOINT ["top" "-b"]'],
    ),
    Case(
        "entrypoint-keeps-cmd-of-this-stage",
        B + 'CMD ["x"]\nENTRYPOINT ["y"]\n',
        config={"Entrypoint": ["y"], "Cmd": ["x"]},
    ),
    Case(
        "entrypoint-shell-form",
        B + "ENTRYPOINT exec top -b\n",
        config={"Entrypoint": ["/bin/sh", "-c", "exec top -b"], "Cmd": None},
    ),
    Case(
        "shell-applies-to-cmd-and-history",
        B + 'SHELL ["/bin/sh", "-ec"]\nCMD echo hi\n',
        config={"Shell": ["/bin/sh", "-ec"], "Cmd": ["/bin/sh", "-ec", "echo hi"]},
        history=[
            "/bin/sh -ec #(nop)  SHELL [/bin/sh -ec]",
            '/bin/sh -ec #(nop)  CMD ["/bin/sh" "-ec" "echo hi"]',
        ],
    ),
    Case(
        "shell-applies-to-run",
        B + 'SHELL ["/usr/bin/env", "VIA=shell", "/bin/sh", "-c"]\nRUN echo $VIA > /s\n',
        tree={"/s": F("shell\n")},
        history=["/usr/bin/env VIA=shell /bin/sh -c echo $VIA > /s"],
    ),
    # --- USER, WORKDIR, VOLUME, STOPSIGNAL, HEALTHCHECK, MAINTAINER ---
    Case(
        "user-numbers-need-no-passwd-entry",
        B + "USER 1234:5678\nRUN id -u > /tmp/u && id -g >> /tmp/u\n",
        config={"User": "1234:5678"},
        tree={"/tmp/u": F("1234\n5678\n", uid=1234, gid=5678)},
    ),
    Case(
        "user-name-resolved-in-image",
        B + "USER nobody\nRUN id -u > /tmp/uid\n",
        config={"User": "nobody"},
        tree={"/tmp/uid": F("65534\n", uid=65534, gid=65534)},
    ),
    Case(
        "user-unknown",
        B + "USER nosuch\nRUN true\n",
        error="unable to find user nosuch: no matching entries in passwd file",
    ),
    Case(
        "workdir-relative-and-created",
        B + "WORKDIR /a\nWORKDIR b\nWORKDIR ../c\n",
        config={"WorkingDir": "/a/c"},
        tree={"/a/b": Entry("dir", None, 0, 0, 0o755), "/a/c": Entry("dir", None, 0, 0, 0o755)},
        history=[
            "/bin/sh -c #(nop) WORKDIR /a",
            "/bin/sh -c #(nop) WORKDIR /a/b",
            "/bin/sh -c #(nop) WORKDIR /a/c",
        ],
        empty_layers=[False, False, False],
    ),
    Case(
        "workdir-existing-is-empty-layer",
        B + "ENV D=/tmp\nWORKDIR $D\n",
        config={"WorkingDir": "/tmp"},
        empty_layers=[True, True],
    ),
    Case(
        "volume-forms",
        B + 'VOLUME /a /b\nVOLUME ["/c"]\n',
        config={"Volumes": {"/a": {}, "/b": {}, "/c": {}}},
        history=["/bin/sh -c #(nop)  VOLUME [/a /b]", "/bin/sh -c #(nop)  VOLUME [/c]"],
    ),
    Case("stopsignal", B + "STOPSIGNAL SIGKILL\n", config={"StopSignal": "SIGKILL"}),
    Case("stopsignal-invalid", B + "STOPSIGNAL NOPE\n", error="Invalid signal: NOPE"),
    Case(
        "healthcheck",
        B + "HEALTHCHECK --interval=5s --retries=3 CMD wget -q http://x/\n",
        config={
            "Healthcheck": {
                "Test": ["CMD-SHELL", "wget -q http://x/"],
                "Interval": 5_000_000_000,
                "Retries": 3,
            }
        },
    ),
    Case("healthcheck-none", B + "HEALTHCHECK NONE\n", config={"Healthcheck": {"Test": ["NONE"]}}),
    Case(
        "maintainer",
        B + "MAINTAINER Jane <j@example.com>\n",
        doc={"author": "Jane <j@example.com>"},
        history=["/bin/sh -c #(nop)  MAINTAINER Jane <j@example.com>"],
    ),
    # --- ARG ---
    Case(
        "arg-default-and-override",
        B + "ARG V=1\nARG W=w\nRUN echo $V$W > /v\n",
        kwargs={"buildargs": {"V": "2"}},
        tree={"/v": F("2w\n")},
        history=[
            "/bin/sh -c #(nop)  ARG V=1",
            "/bin/sh -c #(nop)  ARG W=w",
            "|2 V=2 W=w /bin/sh -c echo $V$W > /v",
        ],
    ),
    Case(
        "arg-before-from-not-in-stage",
        'ARG V=1\nFROM busybox\nRUN echo "[$V]" > /v\n',
        tree={"/v": F("[]\n")},
        history=['/bin/sh -c echo "[$V]" > /v'],
    ),
    Case(
        "arg-before-from-redeclared",
        "ARG V=1\nFROM busybox\nARG V\nRUN echo $V > /v\n",
        tree={"/v": F("1\n")},
    ),
    Case(
        "arg-in-from",
        'ARG BASE=busy\nFROM ${BASE}box\nCMD ["x"]\n',
        config={"Cmd": ["x"]},
        output=["Step 1/3 : ARG BASE=busy\n", "Step 2/3 : FROM ${BASE}box\n"],
    ),
    Case(
        "arg-scope-ends-with-its-stage",
        'FROM busybox AS first\nARG V=1\nFROM busybox\nRUN echo "[$V]" > /v\n',
        tree={"/v": F("[]\n")},
    ),
    Case("arg-not-in-env", B + "ARG V=1\n", config={"Env": [PATH]}),
    Case(
        "env-overrides-arg",
        B + "ARG V=1\nENV V=2\nRUN echo $V > /v\n",
        tree={"/v": F("2\n")},
        history=[
            "/bin/sh -c #(nop)  ARG V=1",
            "/bin/sh -c #(nop)  ENV V=2",
            "/bin/sh -c echo $V > /v",
        ],
    ),
    Case(
        "predefined-proxy-arg",
        B + "RUN echo $HTTP_PROXY > /p\n",
        kwargs={"buildargs": {"HTTP_PROXY": "http://proxy:3128"}},
        tree={"/p": F("http://proxy:3128\n")},
        history=["|0 /bin/sh -c echo $HTTP_PROXY > /p"],
        not_output=["not consumed"],
    ),
    Case(
        "unconsumed-build-arg",
        B + 'CMD ["x"]\n',
        kwargs={"buildargs": {"FOO": "1"}},
        output=["[Warning] One or more build-args [FOO] were not consumed\n"],
    ),
    # --- COPY ---
    Case(
        "copy-file-into-dir-with-slash",
        B + "COPY a.txt /dst/\n",
        files={"a.txt": "A"},
        tree={"/dst/a.txt": F("A", 0o644)},
    ),
    Case(
        "copy-file-to-new-name",
        B + "COPY a.txt /dst\n",
        files={"a.txt": "A"},
        tree={"/dst": F("A")},
    ),
    Case(
        "copy-file-into-existing-dir",
        B + "COPY a.txt /tmp\n",
        files={"a.txt": "A"},
        tree={"/tmp/a.txt": F("A")},
    ),
    Case(
        "copy-dir-copies-contents",
        B + "COPY dir /dst\n",
        files={"dir/x": "X", "dir/sub/y": "Y", "dir/l": ("link", "x")},
        tree={
            "/dst/x": F("X"),
            "/dst/sub/y": F("Y"),
            "/dst/dir": ABSENT,
            "/dst/l": Entry("link", "x", 0, 0, 0o777),
        },
    ),
    Case(
        "copy-wildcards",
        B + "COPY *.txt d?r/[ab].md /dst/\n",
        files={"a.txt": "A", "b.txt": "B", "c.md": "C", "dir/a.md": "DA", "dir/c.md": "DC"},
        tree={
            "/dst/a.txt": F("A"),
            "/dst/b.txt": F("B"),
            "/dst/c.md": ABSENT,
            "/dst/a.md": F("DA"),
        },
    ),
    Case(
        "copy-several-needs-slash",
        B + "COPY a.txt b.txt /dst\n",
        files={"a.txt": "A", "b.txt": "B"},
        error="When using COPY with more than one source file, the destination must be a "
        "directory and end with a /",
    ),
    Case(
        "copy-relative-dest-uses-workdir",
        B + "WORKDIR /app\nCOPY a.txt sub/\nCOPY a.txt .\n",
        files={"a.txt": "A"},
        tree={"/app/sub/a.txt": F("A"), "/app/a.txt": F("A")},
        history=[
            "/bin/sh -c #(nop) WORKDIR /app",
            "re:/bin/sh -c #\\(nop\\) COPY file:[0-9a-f]{64} in sub/ $",
            "re:/bin/sh -c #\\(nop\\) COPY file:[0-9a-f]{64} in \\. $",
        ],
    ),
    Case(
        "copy-owner-root-mode-kept",
        B + "COPY a.sh /a.sh\n",
        files={"a.sh": ("x", 0o750)},
        tree={"/a.sh": F("x", 0o750, 0, 0)},
    ),
    Case(
        "copy-chown-names",
        B + "COPY --chown=daemon:nogroup a.txt /a\nCOPY --chown=daemon a.txt /n/b\n",
        files={"a.txt": "A"},
        tree={
            "/a": F("A", uid=1, gid=65534),
            "/n/b": F("A", uid=1, gid=1),  # a user alone names the group too
            "/n": Entry("dir", None, 1, 1, 0o755),
        },
        history=["re:COPY --chown=daemon:nogroupfile:", "re:COPY --chown=daemonfile:"],
    ),
    Case(
        "copy-chown-user-without-such-group",
        B + "COPY --chown=nobody a.txt /a\n",
        files={"a.txt": "A"},
        error="unable to convert uid/gid chown string to host mapping: can't find gid for "
        "group nobody: no such group: nobody",
    ),
    Case(
        "copy-chown-unknown-user",
        B + "COPY --chown=nosuch a.txt /a\n",
        files={"a.txt": "A"},
        error="unable to convert uid/gid chown string to host mapping: can't find uid for "
        "user nosuch: no such user: nosuch",
    ),
    Case(
        "copy-chown-bad-format",
        B + "COPY --chown=a:b:c a.txt /a\n",
        files={"a.txt": "A"},
        error="invalid chown string format: a:b:c",
    ),
    Case(
        "copy-chmod",
        B + "COPY --chmod=0755 a.txt /a\n",
        files={"a.txt": ("A", 0o600)},
        tree={"/a": F("A", 0o755)},
    ),
    Case(
        "copy-dockerignore-exceptions",
        B + "COPY . /ctx/\n",
        files={
            ".dockerignore": "*.log\n!keep.log\nsecret/\n",
            "a.log": "x",
            "keep.log": "k",
            "secret/s": "s",
            "ok": "o",
        },
        tree={
            "/ctx/keep.log": F("k"),
            "/ctx/a.log": ABSENT,
            "/ctx/secret": ABSENT,
            "/ctx/ok": F("o"),
            "/ctx/Dockerfile": F(B + "COPY . /ctx/\n"),
        },
    ),
    Case(
        "copy-excluded-file",
        B + "COPY a.log /\n",
        files={".dockerignore": "*.log", "a.log": "x"},
        error="COPY failed: file not found in build context or excluded by .dockerignore: "
        "stat a.log: file does not exist",
    ),
    Case(
        "copy-symlink-resolved-inside-context",
        B + "COPY link /l\n",
        files={"link": ("link", "/etc/passwd")},
        error="file not found in build context or excluded by .dockerignore: stat link",
    ),
    Case(
        "copy-symlink-relative-out-of-context",
        B + "COPY link /l\n",
        files={"link": ("link", "../../../etc/hostname")},
        error="file not found in build context or excluded by .dockerignore: stat link",
    ),
    Case(
        "copy-symlink-in-context-followed",
        B + "COPY link /l\n",
        files={"real": "R", "link": ("link", "/real")},
        tree={"/l": F("R")},
    ),
    Case(
        "copy-heredoc-substitution",
        B
        + 'ARG FOO=bar\nCOPY <<EOF /h1\nhello ${FOO} "q"\nEOF\nCOPY <<"EOF" /h2\nhello ${FOO}\nEOF\n',
        tree={"/h1": F('hello bar "q"\n'), "/h2": F("hello ${FOO}\n")},
    ),
    Case(
        "from-platform-mismatch",
        "FROM --platform=linux/arm64 busybox\n",
        error="image with reference busybox was found but does not match the specified "
        "platform: wanted linux/arm64, actual: linux/amd64",
    ),
    Case(
        "copy-heredoc", B + "COPY <<EOF /greeting\nhello\nEOF\n", tree={"/greeting": F("hello\n")}
    ),
    # --- ADD ---
    Case(
        "add-extracts-local-archive",
        B + "ADD app.tar.gz /x/\nADD plain.txt /p\n",
        files={"app.tar.gz": _targz({"inner.txt": "I", "d/e": "E"}), "plain.txt": "P"},
        tree={"/x/inner.txt": F("I"), "/x/d/e": F("E"), "/x/app.tar.gz": ABSENT, "/p": F("P")},
    ),
    Case(
        "add-archive-keeps-modes",
        B + "ADD modes.tar /m/\n",
        files={"modes.tar": _tar_with([_entry("suid", 0o4755), _entry("gw", 0o664)])},
        tree={"/m/suid": F("x", 0o4755), "/m/gw": F("x", 0o664)},
    ),
    Case(
        # Docker extracts chrooted in the destination: the archive's link is followed there
        "add-archive-cannot-escape-through-links",
        B + "ADD evil.tar /e/\n",
        files={"evil.tar": _tar_with([_entry("x", link="/etc"), _entry("x/dockyard-evil")])},
        tree={"/e/etc/dockyard-evil": F("x"), "/etc/dockyard-evil": ABSENT},
    ),
    Case(
        "add-archive-that-climbs-is-refused",
        B + "ADD evil.tar /e/\n",
        files={"evil.tar": _tar_with([_entry("../../../../dockyard-evil")])},
        error="failed to extract evil.tar: '../../../../dockyard-evil' is outside",
    ),
    Case(
        "add-bzip2-and-xz-archives",
        B + "ADD a.tar.bz2 b.tar.xz /x/\n",
        files={
            "a.tar.bz2": _compressed("bz2", {"from-bz2": "1"}),
            "b.tar.xz": _compressed("xz", {"from-xz": "2"}),
        },
        tree={"/x/from-bz2": F("1"), "/x/from-xz": F("2")},
    ),
    Case(
        "copy-does-not-extract-archives",
        B + "COPY app.tar.gz /x/\n",
        files={"app.tar.gz": _targz({"inner.txt": "I"})},
        tree={"/x/app.tar.gz": Entry("file", None, 0, 0, -1), "/x/inner.txt": ABSENT},
    ),
    Case(
        "dockerignore-double-star-and-dockerfile-kept",
        B + "COPY . /ctx/\n",
        files={".dockerignore": "**/*.tmp\nDockerfile\n", "a/b/c.tmp": "t", "a/b/keep": "k"},
        tree={"/ctx/a/b/c.tmp": ABSENT, "/ctx/a/b/keep": F("k"), "/ctx/Dockerfile": ABSENT},
    ),
    Case(
        "arg-several-in-one-line",
        B + 'ARG A=1 B\nRUN echo "$A-$B" > /v\n',
        kwargs={"buildargs": {"B": "2"}},
        tree={"/v": F("1-2\n")},
        history=["/bin/sh -c #(nop)  ARG A=1 B", '|2 A=1 B=2 /bin/sh -c echo "$A-$B" > /v'],
    ),
    Case(
        "workdir-first-relative",
        B + "WORKDIR rel\n",
        config={"WorkingDir": "/rel"},
        tree={"/rel": Entry("dir", None, 0, 0, 0o755)},
    ),
    Case("expose-invalid", B + "EXPOSE 80/xyz\n", error="invalid proto: xyz"),
    Case(
        "copy-from-wildcard",
        "FROM busybox AS s\nRUN mkdir /o && echo 1 > /o/a.txt && echo 2 > /o/b.log\n"
        "FROM busybox\nCOPY --from=s /o/*.txt /w/\n",
        tree={"/w/a.txt": F("1\n"), "/w/b.log": ABSENT},
    ),
    Case(
        "env-in-run-and-cmd-not-expanded-by-builder",
        B + 'ENV N=1\nRUN echo "$N" > /n\nCMD echo $N\n',
        tree={"/n": F("1\n")},
        config={"Cmd": ["/bin/sh", "-c", "echo $N"]},
    ),
    # --- multi-stage ---
    Case(
        "copy-from-stage-name",
        "FROM busybox AS b\nRUN echo built > /out\nFROM busybox\nCOPY --from=b /out /out\n",
        tree={"/out": F("built\n")},
    ),
    Case(
        "copy-from-stage-index",
        "FROM busybox\nRUN echo zero > /z\nFROM scratch\nCOPY --from=0 /z /bin/busybox /\n",
        tree={"/z": F("zero\n"), "/etc": ABSENT},
        config={"Env": [PATH]},
    ),
    Case(
        "copy-from-keeps-owner-unless-chown",
        "FROM busybox AS src\nRUN echo o > /f && chown 1:65534 /f\n"
        "FROM busybox\nCOPY --from=src /f /kept\nCOPY --from=src --chown=0:0 /f /root-owned\n",
        tree={"/kept": F("o\n", uid=1, gid=65534), "/root-owned": F("o\n", uid=0, gid=0)},
    ),
    Case(
        "run-flags-need-buildkit",
        B + "RUN --mount=type=cache,target=/c true\n",
        error="the --mount option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/",
    ),
    Case(
        "copy-from-image",
        B + "COPY --from=busybox /etc/group /g\n",
        tree={"/g": F("root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n")},
    ),
    Case(
        "only-needed-stages",
        "FROM busybox AS unused\nRUN exit 1\n"
        'FROM busybox AS used\nENV U=1\nFROM used\nCMD ["ok"]\n',
        config={"Env": [PATH, "U=1"], "Cmd": ["ok"]},
        output=["Step 1/4 : FROM busybox AS used"],
        not_output=["exit 1"],
    ),
    Case(
        "target-stage",
        'FROM busybox AS first\nCMD ["first"]\nFROM busybox\nRUN exit 1\n',
        kwargs={"target": "first"},
        config={"Cmd": ["first"]},
    ),
    Case(
        "target-unknown",
        B + 'CMD ["x"]\n',
        kwargs={"target": "nope"},
        error="failed to reach build target nope in Dockerfile",
    ),
    Case(
        "from-scratch",
        "FROM scratch\nCOPY a.txt /\n",
        files={"a.txt": "A"},
        config={"Env": [PATH], "Cmd": None},
        tree={"/a.txt": F("A"), "/bin": ABSENT},
    ),
    # --- RUN ---
    Case(
        "run-heredoc",
        B + "RUN <<EOF\necho one > /h\necho two >> /h\nEOF\n",
        tree={"/h": F("one\ntwo\n")},
    ),
    Case(
        "run-heredoc-shebang-runs-as-a-file",
        # BuildKit's rule: a lone heredoc starting with #! is a script run by its interpreter
        B + 'RUN <<EOF\n#!/usr/bin/awk -f\nBEGIN { print "by awk" > "/h"; print ARGV[0] }\nEOF\n',
        tree={"/h": F("by awk\n"), "/dev/pipes": ABSENT},
        output=["awk\n"],
    ),
    Case(
        "run-heredoc-shebang-as-user",
        B + "USER nobody\nRUN <<EOF\n#!/bin/sh -e\nid -u > /tmp/script-uid\nEOF\n",
        tree={"/tmp/script-uid": F("65534\n", uid=65534, gid=65534)},
    ),
    Case(
        "run-heredoc-chomp",
        B + "RUN <<-EOF\n\techo tabbed > /t\n\tEOF\n",
        tree={"/t": F("tabbed\n")},
    ),
    Case(
        "run-heredoc-script-fails",
        B + "RUN <<EOF\necho in-script\nexit 7\nEOF\n",
        error="returned a non-zero code: 7",
        output=["in-script\n"],
    ),
    Case(
        "run-heredoc-as-stdin",
        B + "RUN cat <<EOF > /h\nline $HOME\nEOF\n",
        tree={"/h": F("line /root\n")},
    ),
    Case(
        "run-exec-form",
        B + 'RUN ["/bin/sh", "-c", "echo exec > /e"]\n',
        tree={"/e": F("exec\n")},
        history=["/bin/sh -c echo exec > /e"],
    ),
    Case(
        "run-without-changes-is-empty-layer",
        B + "RUN true\n",
        empty_layers=[True],
        history=["/bin/sh -c true"],
    ),
    Case(
        "run-output-streamed",
        B + "RUN echo visible-output\n",
        output=["visible-output\n", " ---> Running in ", "Removing intermediate container "],
    ),
    Case(
        "run-deletes-file",
        B + "RUN rm /etc/group\n",
        tree={"/etc/group": ABSENT, "/etc/passwd": Entry("file", None, 0, 0, -1)},
    ),
    Case(
        "escape-directive",
        "# escape=`\nFROM busybox\nRUN echo a `\n  b > /e\n",
        tree={"/e": F("a b\n")},
    ),
    # --- errors ---
    Case(
        "run-fails",
        B + "RUN echo out && exit 3\n",
        error="The command '/bin/sh -c echo out && exit 3' returned a non-zero code: 3",
        output=["out\n"],
    ),
    Case(
        "missing-file",
        B + "COPY missing.txt /\n",
        error="COPY failed: file not found in build context or excluded by .dockerignore: "
        "stat missing.txt: file does not exist",
    ),
    Case(
        "outside-context",
        B + "COPY ../x /x\n",
        error="COPY failed: forbidden path outside the build context: ../x ()",
    ),
    Case("unknown-instruction", B + "FROMM busybox\n", error="unknown instruction: FROMM"),
    Case(
        "unknown-stage-or-image",
        B + "COPY --from=nope /x /x\n",
        error="invalid from flag value nope",
    ),
    Case("unknown-base-image", "FROM nosuchimage\n", error="nosuchimage"),
    Case("empty-dockerfile", "# nothing\n", error="file with no instructions"),
]


def _check_entry(path: str, want: Entry | None, got: Entry | None) -> None:
    if want is None:
        assert got is None, f"{path} should be absent"
        return
    assert got is not None, f"{path} missing"
    assert got.kind == want.kind, path
    if want.data is not None:
        assert got.data == want.data, path
    if want.mode != -1:
        assert got.mode == want.mode, (path, oct(got.mode))
    assert (got.uid, got.gid) == (want.uid, want.gid), path


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_table(engine, case: Case) -> None:
    files = {"Dockerfile": case.dockerfile, **case.files}
    result = build(engine, files, **case.kwargs)
    for text in case.output:
        assert text in result.output, result.output
    for text in case.not_output:
        assert text not in result.output
    if case.error is not None:
        assert result.error is not None, result.output
        assert case.error in str(result.error), str(result.error)
        return
    assert result.error is None, f"{result.error}\n{result.output}"
    image = engine.images.get(result.image_id)
    config = image.config["config"]
    for key, value in case.config.items():
        assert config.get(key) == value, key
    for key, value in case.doc.items():
        assert image.config.get(key) == value, key
    if case.tree:
        got = read_tree(engine, image.id, list(case.tree))
        for path, want in case.tree.items():
            _check_entry(path, want, got[path])
    base_len = len(engine.busybox_history()) if "FROM busybox" in case.dockerfile else 0
    steps = image.config["history"][base_len:]
    if case.history is not None:
        import re

        created = [h.get("created_by", "") for h in steps]
        tail = created[-len(case.history) :]
        for want, got_line in zip(case.history, tail, strict=True):
            if want.startswith("re:"):
                assert re.search(want[3:], got_line), (want, got_line)
            else:
                assert got_line == want
    if case.empty_layers is not None:
        flags = [bool(h.get("empty_layer")) for h in steps][-len(case.empty_layers) :]
        assert flags == case.empty_layers
    layers = [h for h in image.config["history"] if not h.get("empty_layer")]
    assert len(layers) == len(image.diff_ids)
