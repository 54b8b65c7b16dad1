"""Build small layer tarballs in memory for tests."""

from __future__ import annotations

import io
import tarfile


def make_tar(entries: list[dict], gz: bool = False) -> bytes:
    """entries: dicts with name, type ('file','dir','sym','link','chr','fifo'), data, link, mode."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            info = tarfile.TarInfo(e["name"])
            info.mode = e.get("mode", 0o644)
            info.uid = e.get("uid", 0)
            info.gid = e.get("gid", 0)
            info.mtime = e.get("mtime", 1_600_000_000)
            if e.get("xattrs"):
                info.pax_headers = {"SCHILY.xattr." + k: v for k, v in e["xattrs"].items()}
            kind = e.get("type", "file")
            data = e.get("data", b"")
            if kind == "file":
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "sym": tarfile.SYMTYPE,
                "link": tarfile.LNKTYPE,
                "chr": tarfile.CHRTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[kind]
            info.linkname = e.get("link", "")
            info.devmajor, info.devminor = e.get("dev", (0, 0))
            t.addfile(info)
    return buf.getvalue()
