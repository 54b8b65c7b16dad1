"""Live restore: monitors outlive a SIGKILLed daemon; a new service instance sees the true
state of every container, running ones keep their pid and logs, and `always` containers that
died while the daemon was down run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

DAEMON = r"""
import json, sys, time
sys.path.insert(0, {tests!r})
from containers_conftest import Engine
engine = Engine.__new__(Engine)
import os
from dockyard.content.store import ContentStore
from dockyard.snapshots.snapshotter import Snapshotter
from dockyard.images.service import ImageService
from dockyard.volumes.service import VolumeService
root, run_dir, parent, runtime = {args!r}
engine.root, engine.run_dir, engine.cgroup_parent, engine.runtime = root, run_dir, parent, runtime
engine.content = ContentStore(os.path.join(root, "content"))
engine.snapshots = Snapshotter(os.path.join(root, "snapshots"))
engine.images = ImageService(os.path.join(root, "images"), engine.content, engine.snapshots)
engine.volumes = VolumeService(os.path.join(root, "volumes"))
engine.events = []
svc = engine.new_service()
ids = {{}}
def run(name, cmd, policy="no"):
    cid = svc.create(name, {{"Image": "busybox", "Cmd": cmd}},
                     {{"RestartPolicy": {{"Name": policy}}}})["Id"]
    svc.start(cid)
    ids[name] = cid
run("ticker", ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done"])
run("always", ["sleep", "1000"], "always")
run("orphan", ["sleep", "1000"], "always")
run("quitter", ["sh", "-c", "sleep 0.5; exit 3"])
print(json.dumps(ids), flush=True)
time.sleep(1000)
"""


def test_monitors_survive_daemon_kill_and_reconcile(engine):
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    link = os.path.join(engine.run_dir, "containers_conftest.py")
    os.symlink(os.path.join(tests_dir, "conftest.py"), link)
    script = DAEMON.format(
        tests=engine.run_dir,
        args=(engine.root, engine.run_dir, engine.cgroup_parent, engine.runtime),
    )
    engine.containers.close()  # the test's own instance steps aside for the "daemon"
    daemon = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        ids = json.loads(daemon.stdout.readline())
    finally:
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
    svc_probe = engine.new_service()  # only to read records while "the daemon is down"
    ticker_pid = svc_probe.inspect(ids["ticker"])["State"]["Pid"]
    always_pid = svc_probe.inspect(ids["always"])["State"]["Pid"]
    orphan_state = svc_probe.store.read_state(ids["orphan"])
    svc_probe.close()
    # While the daemon is down: the "always" container's process dies; its monitor restarts it.
    os.kill(always_pid, signal.SIGKILL)
    # The "orphan" loses its monitor and its process: only reconcile can notice.
    os.kill(orphan_state["MonitorPid"], signal.SIGKILL)
    os.kill(orphan_state["Pid"], signal.SIGKILL)
    time.sleep(1.0)  # the quitter exits meanwhile
    logs_before = len(list(_logs(engine, ids["ticker"])))

    svc = engine.containers = engine.new_service()
    svc.reconcile()
    ticker = svc.inspect(ids["ticker"])["State"]
    assert ticker["Status"] == "running" and ticker["Pid"] == ticker_pid
    time.sleep(0.3)
    assert len(list(svc.logs(ids["ticker"]))) > logs_before  # logs continue
    always = svc.inspect(ids["always"])
    assert always["State"]["Status"] == "running" and always["RestartCount"] >= 1
    assert always["State"]["Pid"] != always_pid
    quitter = svc.inspect(ids["quitter"])["State"]
    assert quitter["Status"] == "exited" and quitter["ExitCode"] == 3
    orphan = svc.inspect(ids["orphan"])["State"]
    assert orphan["Status"] == "running"  # recorded as dead, then restarted (policy always)
    assert orphan["Pid"] != orphan_state["Pid"]
    # the new instance controls the old monitors
    svc.stop(ids["ticker"], timeout=1)
    assert svc.inspect(ids["ticker"])["State"]["Status"] == "exited"
    assert [c["Names"][0] for c in svc.list()] != []


def _logs(engine, cid):
    path = os.path.join(engine.root, "containers", cid, f"{cid}-json.log")
    with open(path, "rb") as f:
        return f.readlines()
