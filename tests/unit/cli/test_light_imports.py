"""`dockyard ps` and `dockyard run` must start fast: no aiohttp, yaml, jsonschema, pyroute2."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("aiohttp", "yaml", "jsonschema", "pyroute2")
PROBE = """
import sys
from dockyard.cli.main import main
code = main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(%r))
print("HEAVY=" + ",".join(heavy))
"""


@pytest.mark.parametrize(
    "argv",
    [["ps"], ["run", "--rm", "busybox", "true"], ["images"], ["exec", "c1", "true"], ["version"]],
)
def test_no_heavy_imports(tmp_path, argv):
    env = {"DOCKYARD_HOST": f"unix://{tmp_path}/none.sock", "PATH": "/usr/bin:/bin"}
    r = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "Cannot connect to the dockyard daemon" in r.stderr
    assert "HEAVY=\n" in r.stdout, r.stdout
