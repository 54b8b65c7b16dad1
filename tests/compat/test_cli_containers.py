"""Acceptance 1 of issue 4: the real docker CLI runs containers on our daemon."""

from __future__ import annotations

import functools
import json
import os
import pty
import select
import subprocess
import time

import pytest

from daemon_fixture import DOCKER, running_daemon
from support import ENGINE_API_SPEC


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        yield daemon


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    return r


def test_run_rm_echo(d):
    r = ok(d.docker("run", "--rm", "busybox", "echo", "hello"))
    assert r.stdout == "hello\n"
    # the attach made before the start does not go through the log: any log driver
    r = ok(d.docker("run", "--rm", "--log-driver", "none", "busybox", "echo", "unlogged"))
    assert r.stdout == "unlogged\n"
    assert d.docker("ps", "-aq").stdout == ""


def test_exit_code_and_wait(d):
    r = d.docker("run", "--rm", "busybox", "sh", "-c", "exit 3")
    assert r.returncode == 3
    cid = ok(d.docker("run", "-d", "busybox", "sh", "-c", "sleep 0.3; exit 7")).stdout.strip()
    assert ok(d.docker("wait", cid)).stdout == "7\n"
    ok(d.docker("rm", cid))


def test_detached_lifecycle(d):
    ok(d.docker("run", "-d", "--name", "web1", "busybox", "sleep", "1000"))
    try:
        ps = ok(d.docker("ps")).stdout.splitlines()
        assert ps[0].split() == [
            "CONTAINER",
            "ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES",
        ]
        assert "web1" in ps[1] and '"sleep 1000"' in ps[1] and " Up " in ps[1]
        procs = ok(d.docker("exec", "web1", "ps")).stdout.splitlines()
        assert procs[1].split()[:3] == ["1", "root", "sleep"]
        top = ok(d.docker("top", "web1")).stdout
        assert "sleep 1000" in top
        stats = ok(d.docker("stats", "--no-stream", "web1")).stdout.splitlines()
        assert stats[0].startswith("CONTAINER ID") and "web1" in stats[1]
        t = time.monotonic()
        ok(d.docker("stop", "-t", "2", "web1"))  # sleep as PID 1 ignores SIGTERM: killed at 2 s
        assert 1.9 < time.monotonic() - t < 4
        state = json.loads(ok(d.docker("inspect", "web1")).stdout)[0]["State"]
        assert state["Status"] == "exited" and state["Running"] is False
        ok(d.docker("start", "web1"))
        assert json.loads(ok(d.docker("inspect", "web1")).stdout)[0]["State"]["Running"]
    finally:
        d.docker("rm", "-f", "web1")
    assert "web1" not in d.docker("ps", "-a").stdout


def test_logs_follow(d):
    ok(
        d.docker(
            "run",
            "-d",
            "--name",
            "logger",
            "busybox",
            "sh",
            "-c",
            "for i in 1 2 3; do echo line$i; sleep 0.2; done",
        )
    )
    try:
        r = ok(d.docker("logs", "-f", "logger", timeout=30))
        assert r.stdout == "line1\nline2\nline3\n"
        r = ok(d.docker("logs", "--tail", "1", "logger"))
        assert r.stdout == "line3\n"
    finally:
        d.docker("rm", "-f", "logger")


def test_inspect_shape(d):
    ok(d.docker("create", "--name", "shape", "-e", "A=1", "-l", "k=v", "busybox", "true"))
    try:
        (c,) = json.loads(ok(d.docker("inspect", "shape")).stdout)
        for key in (
            "Id",
            "Created",
            "Path",
            "Args",
            "State",
            "Image",
            "Name",
            "HostConfig",
            "Config",
            "Mounts",
            "NetworkSettings",
        ):
            assert key in c, key
        assert c["Name"] == "/shape" and c["Path"] == "true"
        assert "A=1" in c["Config"]["Env"] and c["Config"]["Labels"] == {"k": "v"}
        assert isinstance(c["State"]["Pid"], int) and c["State"]["Status"] == "created"
        r = ok(d.docker("inspect", "-f", "{{.State.Status}} {{.Config.Image}}", "shape"))
        assert r.stdout == "created busybox\n"
    finally:
        d.docker("rm", "-f", "shape")


def test_named_volume_persists(d):
    ok(d.docker("run", "--rm", "-v", "cdata:/d", "busybox", "sh", "-c", "echo kept > /d/f"))
    assert ok(d.docker("run", "--rm", "-v", "cdata:/d", "busybox", "cat", "/d/f")).stdout == (
        "kept\n"
    )
    assert "cdata" in ok(d.docker("volume", "ls", "-q")).stdout.split()
    (v,) = json.loads(ok(d.docker("volume", "inspect", "cdata")).stdout)
    assert open(os.path.join(v["Mountpoint"], "f")).read() == "kept\n"
    ok(d.docker("volume", "rm", "cdata"))


def test_volume_in_use_conflict(d):
    ok(d.docker("create", "--name", "holder", "-v", "busyvol:/d", "busybox", "true"))
    try:
        r = d.docker("volume", "rm", "busyvol")
        assert r.returncode == 1 and "volume is in use" in r.stderr
    finally:
        d.docker("rm", "holder")
    ok(d.docker("volume", "rm", "busyvol"))


def test_cp_both_ways(d, tmp_path):
    ok(d.docker("run", "-d", "--name", "cpbox", "busybox", "sleep", "100"))
    try:
        src = tmp_path / "in.txt"
        src.write_text("to the container\n")
        ok(d.docker("cp", str(src), "cpbox:/tmp/in.txt"))
        assert ok(d.docker("exec", "cpbox", "cat", "/tmp/in.txt")).stdout == "to the container\n"
        ok(d.docker("exec", "cpbox", "sh", "-c", "echo from the container > /tmp/out.txt"))
        ok(d.docker("cp", "cpbox:/tmp/out.txt", str(tmp_path / "out.txt")))
        assert (tmp_path / "out.txt").read_text() == "from the container\n"
    finally:
        d.docker("rm", "-f", "cpbox")


def test_events_show_lifecycle(d):
    since = time.time()
    ok(d.docker("run", "--rm", "--name", "evbox", "busybox", "true"))
    time.sleep(0.3)
    r = ok(
        d.docker(
            "events",
            "--since",
            f"{since:.3f}",
            "--until",
            f"{time.time():.3f}",
            "--filter",
            "container=evbox",
            "--format",
            "{{.Action}}",
        )
    )
    actions = r.stdout.split()
    for a in ("create", "start", "die", "destroy"):
        assert a in actions, actions


def test_errors_in_dockers_words(d):
    r = d.docker("inspect", "web9")
    assert r.returncode == 1 and "No such object: web9" in r.stderr
    r = d.docker("stop", "web9")
    assert "No such container: web9" in r.stderr
    ok(d.docker("create", "--name", "dup", "busybox", "true"))
    try:
        r = d.docker("create", "--name", "dup", "busybox", "true")
        assert r.returncode != 0 and "Conflict" in r.stderr and "is already in use" in r.stderr
    finally:
        d.docker("rm", "dup")


def test_run_it_under_a_pty(d):
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(DOCKER, [DOCKER, "run", "-it", "--rm", "busybox", "sh"], d.env)
    out = b""

    def read_until(token: bytes, timeout: float = 20) -> bytes:
        nonlocal out
        deadline = time.monotonic() + timeout
        while token not in out and time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
        return out

    try:
        assert b"# " in read_until(b"# ")  # the prompt: the shell's first output is not lost
        os.write(fd, b"echo $((6*7))\n")
        assert b"42" in read_until(b"42")
        os.write(fd, b"exit\n")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_network_disconnect_force_of_a_removed_network(d):
    """`docker network disconnect -f NET CTR` when NET was removed meanwhile: the container
    forgets it (without -f: the network is not found)."""
    ok(d.docker("network", "create", "gone-net"))
    ok(d.docker("create", "--name", "orphan", "--network", "gone-net", "busybox", "true"))
    try:
        ok(d.docker("network", "rm", "gone-net"))
        r = d.docker("network", "disconnect", "gone-net", "orphan")
        assert r.returncode != 0 and "not found" in r.stderr, r.stderr
        ok(d.docker("network", "disconnect", "-f", "gone-net", "orphan"))
        nets = json.loads(
            ok(d.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", "orphan")).stdout
        )
        assert "gone-net" not in (nets or {})
        assert d.docker("ps", "-a", "-q", "-f", "name=orphan").stdout.strip()
    finally:
        d.docker("rm", "-f", "orphan")
        d.docker("network", "rm", "gone-net")


def test_host_network_gets_the_hosts_etc_files(d):
    """On the host's network: the host's hostname, /etc/hosts (plus --add-host) and
    resolv.conf, as Docker bind-mounts them; --dns replaces the nameservers."""
    import socket

    script = "hostname; echo ==; cat /etc/hosts; echo ==; cat /etc/resolv.conf"
    r = ok(
        d.docker(
            "run",
            "--rm",
            "--network",
            "host",
            "--add-host",
            "extra.test:10.201.9.9",
            "busybox",
            "sh",
            "-c",
            script,
        )
    )
    hostname, hosts, resolv = r.stdout.split("==\n")
    assert hostname == socket.gethostname() + "\n"
    with open("/etc/hosts") as f:
        host_hosts = f.read()
    assert hosts.startswith(host_hosts.rstrip("\n") + "\n") and "10.201.9.9\textra.test" in hosts
    with open("/etc/resolv.conf") as f:
        assert resolv == f.read()
    r = ok(
        d.docker(
            "run",
            "--rm",
            "--network",
            "host",
            "--dns",
            "10.201.9.53",
            "busybox",
            "cat",
            "/etc/resolv.conf",
        )
    )
    assert "nameserver 10.201.9.53" in r.stdout.splitlines()
    (c,) = json.loads(
        ok(d.docker("create", "--name", "hostnet", "--network", "host", "busybox", "true")).stdout
        and ok(d.docker("inspect", "hostnet")).stdout
    )
    d.docker("rm", "hostnet")
    assert c["Config"]["Hostname"] == socket.gethostname()


# -- the inspect document against the v1.47 spec --------------------------------------------

SPEC = ENGINE_API_SPEC
_PY_TYPES = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


@functools.cache
def _spec() -> dict:
    import yaml

    with open(SPEC) as f:
        return yaml.safe_load(f)


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = _spec()["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    if "allOf" not in schema:
        return schema
    merged: dict = {"properties": {}}
    for part in [_resolve(p) for p in schema["allOf"]] + [schema]:
        merged["properties"].update(part.get("properties") or {})
        if part.get("type"):
            merged["type"] = part["type"]
    merged.setdefault("type", "object")
    return merged


def _type_errors(value, schema: dict, path: str) -> list[str]:
    """Where `value` has a type the spec does not give (null only for arrays and objects,
    as Docker's Go slices and maps, or where the spec says x-nullable)."""
    schema = _resolve(schema)
    typ = schema.get("type") or ("object" if "properties" in schema else None)
    if value is None:
        if typ in (None, "array", "object") or schema.get("x-nullable"):
            return []
        return [f"{path}: null, the spec says {typ}"]
    if typ is None:
        return []
    numeric = typ in ("integer", "number")
    if not isinstance(value, _PY_TYPES[typ]) or (numeric and isinstance(value, bool)):
        return [f"{path}: {type(value).__name__} {value!r:.40}, the spec says {typ}"]
    errors: list[str] = []
    if typ == "array" and "items" in schema:
        for i, v in enumerate(value):
            errors += _type_errors(v, schema["items"], f"{path}[{i}]")
    if typ == "object":
        props, extra = schema.get("properties") or {}, schema.get("additionalProperties")
        for k, v in value.items():
            if k in props:
                errors += _type_errors(v, props[k], f"{path}.{k}")
            elif isinstance(extra, dict):
                errors += _type_errors(v, extra, f"{path}.{k}")
    return errors


def _missing(value: dict, definition: str, omitempty: set[str]) -> list[str]:
    props = _resolve({"$ref": f"#/definitions/{definition}"}).get("properties") or {}
    return sorted(k for k in props if k not in value and k not in omitempty)


# Fields Docker leaves out when empty (`omitempty` in its Go types).
CONFIG_OMITEMPTY = {
    "ArgsEscaped",
    "MacAddress",
    "NetworkDisabled",
    "Shell",
    "StopTimeout",
    "Healthcheck",
    "ExposedPorts",
    "StopSignal",
    "OnBuild",
}
HOST_CONFIG_OMITEMPTY = {
    "Annotations",
    "Init",
    "KernelMemoryTCP",
    "Mounts",
    "StorageOpt",
    "Sysctls",
    "CpuCount",
    "CpuPercent",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
    "Isolation",
    "Tmpfs",
}


def test_inspect_names_and_types_match_the_spec(d, tmp_path):
    """`docker inspect` of a running container with a volume, a bind mount, a health check
    and a restart policy: every field of State, Config, HostConfig and Mounts (and the
    document) has the type the v1.47 spec gives, and the fields Docker always writes are
    there."""
    ok(
        d.docker(
            "run",
            "-d",
            "--name",
            "typed",
            "-v",
            "typedvol:/data",
            "-v",
            f"{tmp_path}:/host:ro",
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
            "--restart",
            "on-failure:3",
            "-p",
            "127.0.0.1::8080",
            "-e",
            "A=1",
            "-l",
            "k=v",
            "--memory",
            "64m",
            "--cpus",
            "0.5",
            "--ulimit",
            "nofile=512:1024",
            "busybox",
            "sleep",
            "100",
        )
    )
    try:
        time.sleep(1.5)  # a health check result in State.Health
        (c,) = json.loads(ok(d.docker("inspect", "typed")).stdout)
        schema = _spec()["paths"]["/containers/{id}/json"]["get"]["responses"][200]["schema"]
        assert _type_errors(c, schema, "inspect") == []
        assert _missing(c["State"], "ContainerState", set()) == []
        assert _type_errors(c["State"]["Health"], {"$ref": "#/definitions/Health"}, "H") == []
        assert c["State"]["Health"]["Log"], c["State"]["Health"]
        assert _missing(c["Config"], "ContainerConfig", CONFIG_OMITEMPTY) == []
        assert _missing(c["HostConfig"], "HostConfig", HOST_CONFIG_OMITEMPTY) == []
        mounts = {m["Type"]: m for m in c["Mounts"]}
        assert set(mounts) == {"volume", "bind"}, c["Mounts"]
        assert _missing(mounts["volume"], "MountPoint", set()) == []
        assert _missing(mounts["bind"], "MountPoint", {"Name", "Driver"}) == []
        assert mounts["bind"]["RW"] is False and mounts["volume"]["Name"] == "typedvol"
        assert c["HostConfig"]["Memory"] == 64 * 1024 * 1024
        assert c["HostConfig"]["NanoCpus"] == 500_000_000
        assert c["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    finally:
        d.docker("rm", "-f", "-v", "typed")
        d.docker("volume", "rm", "typedvol")


def _status_field(d, *run_args: str, field: str) -> str:
    r = ok(d.docker("run", "--rm", *run_args, "busybox", "grep", f"^{field}:", "/proc/self/status"))
    return r.stdout.split(":", 1)[1].strip()


def test_run_options_take_effect(d):
    """The run options of the issue, seen from inside the container and in its cgroups."""
    r = ok(
        d.docker(
            "run",
            "--rm",
            "-e",
            "X=1",
            "-w",
            "/tmp",
            "-u",
            "1000:1000",
            "--hostname",
            "hh",
            "--entrypoint",
            "sh",
            "busybox",
            "-c",
            "echo $X; pwd; id -u; id -g; hostname",
        )
    )
    assert r.stdout.split() == ["1", "/tmp", "1000", "1000", "hh"]
    r = d.docker("run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    ok(d.docker("run", "--rm", "--read-only", "--tmpfs", "/tmp", "busybox", "touch", "/tmp/x"))
    assert _status_field(d, "--cap-drop", "ALL", field="CapEff") == "0000000000000000"
    default = int(_status_field(d, field="CapEff"), 16)
    sys_admin = 1 << 21
    assert not default & sys_admin
    assert int(_status_field(d, "--cap-add", "SYS_ADMIN", field="CapEff"), 16) & sys_admin
    with open("/proc/self/status") as f:
        bounding = int(next(x for x in f if x.startswith("CapBnd:")).split()[1], 16)
    with open("/proc/sys/kernel/cap_last_cap") as f:
        every_cap = (1 << (int(f.read()) + 1)) - 1
    if bounding == every_cap:
        assert int(_status_field(d, "--privileged", field="CapEff"), 16) & sys_admin
    else:  # a host without every capability: the start fails (as runc's), and promptly
        r = d.docker("run", "--rm", "--name", "privfail", "--privileged", "busybox", "true")
        assert r.returncode != 0 and "failed to create task" in r.stderr
        assert "privfail" not in ok(d.docker("ps", "-a")).stdout  # --rm removed it
    assert _status_field(d, field="NoNewPrivs") == "0"
    assert _status_field(d, "--security-opt", "no-new-privileges", field="NoNewPrivs") == "1"
    assert _status_field(d, field="Seccomp") == "2"
    assert _status_field(d, "--security-opt", "seccomp=unconfined", field="Seccomp") == "0"
    r = ok(
        d.docker(
            "run",
            "--rm",
            "--ulimit",
            "nofile=512:1024",
            "busybox",
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn",
        )
    )
    assert r.stdout.split() == ["512", "1024"]
    r = ok(d.docker("run", "--rm", "--init", "busybox", "ps", "-o", "pid,comm"))
    assert r.stdout.splitlines()[1].split()[0] == "1" and "ps" not in r.stdout.splitlines()[1]
    # resources: the container's own cgroups
    cid = ok(
        d.docker(
            "run",
            "-d",
            "--memory",
            "48m",
            "--cpu-shares",
            "512",
            "--cpus",
            "0.5",
            "--pids-limit",
            "77",
            "busybox",
            "sleep",
            "100",
        )
    ).stdout.strip()
    try:
        pid = json.loads(ok(d.docker("inspect", cid)).stdout)[0]["State"]["Pid"]
        with open(f"/proc/{pid}/cgroup") as f:
            paths = dict(line.strip().split(":", 2)[1:] for line in f if ":" in line)

        def cg(ctrl: str, name: str) -> str:
            key = next(k for k in paths if ctrl in k.split(","))
            with open(f"/sys/fs/cgroup/{key}{paths[key]}/{name}") as f:
                return f.read().strip()

        assert cg("memory", "memory.limit_in_bytes") == str(48 * 1024 * 1024)
        assert cg("cpu", "cpu.shares") == "512"
        assert (cg("cpu", "cpu.cfs_quota_us"), cg("cpu", "cpu.cfs_period_us")) == (
            "50000",
            "100000",
        )
        assert cg("pids", "pids.max") == "77"
    finally:
        d.docker("rm", "-f", cid)


def test_named_volume_filled_from_image_and_restart_unless_stopped(d):
    """An empty named volume gets the image's content at its path; unless-stopped restarts a
    container that dies by itself, not one that was stopped."""
    r = ok(d.docker("run", "--rm", "-v", "fillvol:/etc", "busybox", "cat", "/etc/passwd"))
    assert r.stdout.startswith("root:")
    r = ok(d.docker("run", "--rm", "-v", "fillvol:/data", "busybox", "cat", "/data/passwd"))
    assert r.stdout.startswith("root:")
    ok(d.docker("volume", "rm", "fillvol"))
    ok(
        d.docker(
            "run",
            "-d",
            "--name",
            "unless",
            "--restart",
            "unless-stopped",
            "busybox",
            "sh",
            "-c",
            "sleep 0.3; exit 1",
        )
    )
    try:
        deadline = time.monotonic() + 20
        count = 0
        while time.monotonic() < deadline and count < 1:
            count = json.loads(ok(d.docker("inspect", "unless")).stdout)[0]["RestartCount"]
            time.sleep(0.2)
        assert count >= 1
        ok(d.docker("stop", "-t", "0", "unless"))
        time.sleep(1.5)
        state = json.loads(ok(d.docker("inspect", "unless")).stdout)[0]["State"]
        assert state["Status"] == "exited", state
    finally:
        d.docker("rm", "-f", "unless")


def test_exec_of_a_missing_program_exits_127_as_docker(d):
    """moby records 127 for a program that is not there (translateContainerdStartErr); the
    CLI and the SDK's exec_run see it, and the exec cannot be started again."""
    import docker as sdk

    ok(d.docker("run", "-d", "--name", "exmiss", "busybox", "sleep", "300"))
    try:
        r = d.docker("exec", "exmiss", "nosuchcmd")
        assert r.returncode == 127, (r.stdout, r.stderr)
        assert 'exec: "nosuchcmd": executable file not found in $PATH' in r.stdout
        assert "Errno" not in r.stdout
        client = sdk.DockerClient(base_url=d.host)
        try:
            assert client.containers.get("exmiss").exec_run("nosuchcmd").exit_code == 127
            api = client.api
            exec_id = api.exec_create("exmiss", ["nosuchcmd"])["Id"]
            api.exec_start(exec_id)
            assert api.exec_inspect(exec_id)["ExitCode"] == 127
            with pytest.raises(sdk.errors.APIError, match="has already run"):
                api.exec_start(exec_id)
        finally:
            client.close()
    finally:
        d.docker("rm", "-f", "exmiss")
