"""Hostile tar archives and images, made by the tests themselves (nothing downloaded).

Entries are built with tarfile so that every field an attacker controls can be set: names
with `..` and absolute names, symlinks and hard links that point out, whiteouts that climb,
device nodes, setuid files, special headers that claim gigabytes. `sentinel` tracks a host
directory that hostile entries aim at: its digest before and after must be equal.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# --- entries ----------------------------------------------------------------------------


def reg(name: str, data: bytes = b"x", mode: int = 0o644, uid: int = 0) -> tuple:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, uid, uid, 1
    return info, data


def dir_(name: str, mode: int = 0o755) -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 1
    return info, None


def sym(name: str, target: str) -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, 1
    return info, None


def hard(name: str, target: str) -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = tarfile.LNKTYPE, target, 0o644, 1
    return info, None


def dev(name: str, kind: str = "c", major: int = 1, minor: int = 3, mode: int = 0o666) -> tuple:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE if kind == "c" else tarfile.BLKTYPE
    info.devmajor, info.devminor, info.mode, info.mtime = major, minor, mode, 1
    return info, None


def fifo(name: str) -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.FIFOTYPE, 0o644, 1
    return info, None


def tar_bytes(entries: Iterable[tuple], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def diff_id(layer: bytes) -> str:
    return "sha256:" + hashlib.sha256(layer).hexdigest()


# --- headers that claim too much ---------------------------------------------------------


def _header(name: str, typeflag: bytes, size: int) -> bytes:
    """A raw ustar header block (checksum filled in) for a special entry."""
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mtime = typeflag, size, 1
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def huge_pax_header(claimed: int = 2 << 30, written: int = 64 << 10) -> bytes:
    """A PAX extended header that claims `claimed` bytes (only `written` follow), then EOF.
    Python's tarfile would try to read all of it into memory."""
    return _header("././@PaxHeader", tarfile.XHDTYPE, claimed) + b"9 a=bbbb\n" * (written // 9)


def gnu_longname_bomb(path: str, size: int = 64 << 20) -> None:
    """A gzip stream written to `path`: a GNU long name of `size` bytes, then a file."""
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(_header("././@LongLink", tarfile.GNUTYPE_LONGNAME, size))
        chunk = b"a" * (1 << 20)
        for _ in range(size // len(chunk)):
            f.write(chunk)
        f.write(tar_bytes([reg("tail")]))


def pax_redos(size: int = 512 << 10) -> bytes:
    """A PAX header of digits (CVE-2024-6232: quadratic backtracking in CPython < 3.11.10)."""
    body = b"1" * size
    return _header("././@PaxHeader", tarfile.XHDTYPE, len(body)) + body.ljust(
        (len(body) + 511) // 512 * 512, b"\0"
    )


def longname_chain(count: int = 5000) -> bytes:
    """`count` GNU long-name headers in a row (a recursion in CPython's tarfile)."""
    one = _header("././@LongLink", tarfile.GNUTYPE_LONGNAME, 8) + b"abcdefg\0".ljust(512, b"\0")
    return one * count + tar_bytes([reg("tail")], fmt=tarfile.GNU_FORMAT)


def many_entries(path: str, count: int, gz: bool = True) -> None:
    """A (gzip) tar at `path` of `count` empty files in directories of 1000."""
    opener = gzip.open(path, "wb", compresslevel=1) if gz else open(path, "wb")
    with opener as raw, tarfile.open(fileobj=raw, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for i in range(count):
            if i % 1000 == 0:
                tar.addfile(dir_(f"d{i // 1000}")[0])
            info = tarfile.TarInfo(f"d{i // 1000}/f{i}")
            info.mtime = 1
            tar.addfile(info)


def zero_bomb(path: str, size: int, name: str = "manifest.json") -> None:
    """A gzip tar at `path` holding one file `name` of `size` zero bytes (it compresses ~1000
    times: 64 MiB is 64 KiB on the wire)."""
    with gzip.open(path, "wb", compresslevel=6) as raw:
        info = tarfile.TarInfo(name)
        info.size, info.mtime = size, 1
        raw.write(info.tobuf(format=tarfile.USTAR_FORMAT))
        chunk = b"\0" * (1 << 20)
        left = size
        while left:
            n = min(left, len(chunk))
            raw.write(chunk[:n])
            left -= n
        raw.write(b"\0" * ((-size) % 512) + b"\0" * 1024)


# --- images ------------------------------------------------------------------------------


def image_config(layers: list[bytes], cmd: list[str] | None = None) -> bytes:
    return json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": cmd or ["sh"], "Env": ["PATH=/bin:/usr/bin:/sbin:/usr/sbin"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id(layer) for layer in layers]},
            "history": [{"created_by": "hostile"} for _ in layers],
        }
    ).encode()


def docker_archive(layers: list[bytes], tag: str = "hostile:latest", extra=()) -> bytes:
    """A docker-archive (docker save's legacy form) of an image with `layers`."""
    config = image_config(layers)
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    entries = [reg(config_name, config)]
    names = []
    for i, layer in enumerate(layers):
        entries.append(dir_(f"l{i}"))
        entries.append(reg(f"l{i}/layer.tar", layer))
        names.append(f"l{i}/layer.tar")
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": names}]
    entries.append(reg("manifest.json", json.dumps(manifest).encode()))
    entries.extend(extra)
    return tar_bytes(entries)


# --- the sentinel ------------------------------------------------------------------------


def tree_digest(path: str) -> str:
    """Names, types, modes, owners, sizes, link targets and contents of the tree at `path`,
    and the directory itself (a chmod through a link would show)."""
    h = hashlib.sha256()
    st = os.lstat(path)
    h.update(f"{st.st_mode:o} {st.st_uid} {st.st_gid}\n".encode())
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, path)
            h.update(f"{rel} {st.st_mode:o} {st.st_uid} {st.st_gid} {st.st_size}\n".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(full).encode())
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()


@dataclass
class Sentinel:
    """A host directory hostile entries aim at, and its digest."""

    path: str
    expected: str = ""  # the digest the tests compare with at the end

    @classmethod
    def make(cls, parent: str = "/tmp") -> Sentinel:
        path = tempfile.mkdtemp(prefix="hostile-sentinel-", dir=parent)
        os.chmod(path, 0o755)
        with open(os.path.join(path, "victim"), "w") as f:
            f.write("the host's file\n")
        os.mkdir(os.path.join(path, "dir"))
        with open(os.path.join(path, "dir", "inner"), "w") as f:
            f.write("inner\n")
        os.symlink("victim", os.path.join(path, "link"))
        return cls(path)

    def digest(self) -> str:
        return tree_digest(self.path)

    @property
    def climb(self) -> str:
        """A relative path that climbs from anywhere to the sentinel."""
        return "../" * 40 + self.path.lstrip("/")

    def remove(self) -> None:
        import shutil

        shutil.rmtree(self.path, ignore_errors=True)


@contextlib.contextmanager
def watched_sentinel(files: dict[str, bytes] | None = None) -> Iterator[Sentinel]:
    """A sentinel (with `files` added), asserted unchanged when the block ends, then removed."""
    s = Sentinel.make()
    for name, data in (files or {}).items():
        with open(os.path.join(s.path, name), "wb") as f:
            f.write(data)
    s.expected = s.digest()
    yield s
    try:
        assert s.digest() == s.expected, "the host's sentinel directory changed"
    finally:
        s.remove()


def escaping_layers(sentinel: Sentinel) -> dict[str, bytes]:
    """Layers that each try one way out of the root towards the sentinel."""
    s = sentinel.path
    return {
        "dotdot-name": tar_bytes([reg(sentinel.climb + "/victim", b"pwned")]),
        "absolute-name": tar_bytes([reg(s + "/victim", b"pwned")]),
        "symlink-abs-then-write": tar_bytes([sym("out", s), reg("out/victim", b"pwned")]),
        "symlink-climb-then-write": tar_bytes(
            [sym("out", "../../../../../../../../.." + s), reg("out/victim", b"pwned")]
        ),
        "symlink-dir-chain": tar_bytes([sym("a", "/"), sym("b", "a" + s), reg("b/new", b"pwned")]),
        "hardlink-abs": tar_bytes([hard("h", s + "/victim")]),
        "hardlink-climb": tar_bytes([hard("h", sentinel.climb + "/victim")]),
        "whiteout-climb": tar_bytes([reg("../.wh.victim", b"")]),
        "whiteout-through-symlink": tar_bytes([sym("out", s), reg("out/.wh.victim", b"")]),
        "opaque-through-symlink": tar_bytes([sym("out", s), reg("out/.wh..wh..opq", b"")]),
        "dir-through-symlink-chmod": tar_bytes([sym("out", s), dir_("out", 0o777)]),
        "symlink-loop-write": tar_bytes([sym("l1", "l2"), sym("l2", "l1"), reg("l1/x", b"x")]),
    }


def harmless_layers() -> dict[str, bytes]:
    """Entries that are legitimate in an image but dangerous if handled carelessly."""
    return {
        "devices": tar_bytes(
            [dir_("hdev"), dev("hdev/mem", "c", 1, 1), dev("hdev/sda", "b", 8, 0)]
        ),
        "setuid": tar_bytes([dir_("bin"), reg("bin/suid", b"#!/bin/sh\n", 0o4755)]),
        "fifo": tar_bytes([fifo("pipe")]),
        "self-loop": tar_bytes([sym("loop", "loop")]),
    }


def dir_layer(root: str) -> bytes:
    """A layer tar of directory `root` (e.g. the busybox rootfs of the test session)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(os.listdir(root)):
            tar.add(os.path.join(root, name), arcname=name)
    return buf.getvalue()


def peak_rss_mib(pid: int) -> int:
    """The peak resident memory (VmHWM) of process `pid`, in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("no VmHWM")
