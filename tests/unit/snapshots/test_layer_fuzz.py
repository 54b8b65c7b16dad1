"""Property: whatever a layer tar contains, applying it changes nothing outside the target."""

from __future__ import annotations

import io
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.snapshots.layer import LayerError, apply_layer
from unit.snapshots.tarbuild import make_tar

_COMPONENTS = ["a", "b", "..", ".", "", ".wh.a", ".wh...", ".wh..wh..opq", "out"]
_TARGETS = ["/", "..", "../..", "../out", "/out", "a", "a/b", "../../../..", "OUTSIDE"]

_name = st.lists(st.sampled_from(_COMPONENTS), min_size=1, max_size=4).map("/".join)
_entry = st.fixed_dictionaries(
    {
        "name": _name,
        "type": st.sampled_from(["file", "dir", "sym", "link", "fifo"]),
        "link": st.one_of(st.sampled_from(_TARGETS), _name),
        "data": st.sampled_from([b"", b"pwned"]),
        "mode": st.sampled_from([0o644, 0o755, 0o000, 0o4777]),
    }
)


def _snapshot(root: str) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st_ = os.lstat(p)
            content = open(p, "rb").read() if os.path.isfile(p) and not os.path.islink(p) else b""
            out[p] = (st_.st_mode, st_.st_nlink, content)
    return out


@pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts need CAP_MKNOD")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_entry, min_size=1, max_size=8))
def test_nothing_outside_changes(entries: list[dict]) -> None:
    sandbox = tempfile.mkdtemp(prefix="dy-fuzz-")
    try:
        target = os.path.join(sandbox, "box", "target")
        outside = os.path.join(sandbox, "box", "out")
        os.makedirs(target)
        os.makedirs(outside)
        with open(os.path.join(outside, "secret"), "w") as f:
            f.write("keep")
        os.symlink(outside, os.path.join(sandbox, "box", "link-out"))
        for e in entries:
            if e["link"] == "OUTSIDE":
                e["link"] = os.path.join(outside, "secret")
        before = _snapshot(sandbox)
        try:
            apply_layer(io.BytesIO(make_tar(entries)), target)
        except LayerError:
            pass

        def outside_target(snap: dict) -> dict:
            return {p: v for p, v in snap.items() if p != target and not p.startswith(target + "/")}

        assert outside_target(_snapshot(sandbox)) == outside_target(before)
    finally:
        for dirpath, dirnames, _ in os.walk(sandbox):
            for d in dirnames:
                p = os.path.join(dirpath, d)
                if not os.path.islink(p):
                    os.chmod(p, 0o755)
        shutil.rmtree(sandbox)
