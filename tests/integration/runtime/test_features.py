"""The rest of config.json, enacted for real: terminal and console socket, exec, hooks,
joining namespaces by path, sysctls, rlimits, user and groups, umask, oomScoreAdj, bind mount
options, the cgroup namespace, seccomp and the read-only root."""

from __future__ import annotations

import json
import os
import select
import socket
import stat
import time

import pytest

from dockyard.errors import SystemError_
from dockyard.runtime import wait_status


def run_capture(rt, cid: str, bundle: str, tmp_path) -> tuple[int, str]:
    path = tmp_path / f"{cid}.out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        status = rt.run(cid, bundle, stdout=fd, stderr=fd)
    finally:
        os.close(fd)
    return status, path.read_text()


def _read_until(fd: int, needle: bytes, timeout: float = 5) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while needle not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    return data


@pytest.fixture
def console_socket(tmp_path):
    path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(10)
    yield path, srv
    srv.close()


def _receive_master(srv: socket.socket) -> tuple[bytes, int]:
    conn, _ = srv.accept()
    with conn:
        msg, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    return msg, fds[0]


def test_terminal_through_console_socket(bundles, rt, console_socket):
    path, srv = console_socket
    bundle = bundles.make(
        ["sh", "-c", "tty; stty size; read line; echo got:$line"],
        edit=lambda c: c["process"].update(terminal=True, consoleSize={"height": 33, "width": 101}),
    )
    pid = rt.create("tty", bundle, console_socket=path)
    try:
        name, master = _receive_master(srv)
        assert name.startswith(b"/dev/pts/")
        assert stat.S_ISCHR(os.fstat(master).st_mode)
        rt.start("tty")
        os.write(master, b"hello\n")
        out = _read_until(master, b"got:hello")
        assert b"/dev/pts/0" in out and b"33 101" in out and b"got:hello" in out, out
        assert wait_status(pid) == 0
        os.close(master)
    finally:
        rt.delete("tty", force=True)


def test_exec_enters_the_container(bundles, rt, tmp_path, console_socket):
    bundle = bundles.make(["sleep", "30"], edit=lambda c: c.update(hostname="exec-host"))
    pid = rt.create("ex", bundle)
    try:
        rt.start("ex")
        out_path = tmp_path / "exec.out"
        out = os.open(out_path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            child = rt.exec(
                "ex",
                {
                    "args": ["sh", "-c", "hostname; echo $FOO; pwd; id -u; ps -o pid,args; exit 5"],
                    "env": ["PATH=/bin:/usr/bin", "FOO=bar"],
                    "cwd": "/tmp",
                    "user": {"uid": 0, "gid": 0},
                },
                stdout=out,
                stderr=out,
            )
        finally:
            os.close(out)
        assert wait_status(child) == 5
        lines = out_path.read_text().splitlines()
        assert lines[:4] == ["exec-host", "bar", "/tmp", "0"]
        assert any(line.split()[:3] == ["1", "sleep", "30"] for line in lines[4:])
        with pytest.raises(SystemError_, match="executable file not found"):
            rt.exec("ex", {"args": ["nope"], "cwd": "/"})
        # and with a terminal
        path, srv = console_socket
        child = rt.exec(
            "ex",
            {"args": ["sh", "-c", "tty; echo done"], "cwd": "/", "terminal": True},
            console_socket=path,
        )
        _, master = _receive_master(srv)
        out = _read_until(master, b"done")
        assert wait_status(child) == 0  # before closing the master: that would hang it up
        os.close(master)
        assert b"/dev/pts/" in out and b"done" in out
    finally:
        rt.delete("ex", force=True)
    wait_status(pid)


def test_cli_exec_passes_exit_status(bundles, runtime_cli, tmp_path):
    bundle = bundles.make(
        ["sleep", "30"], writable=True, edit=lambda c: c["process"]["user"].update(gid=100)
    )
    os.chmod(os.path.join(bundle, "rootfs"), 0o755)  # pytest's temporary dirs are 0700
    with open(tmp_path / "log", "w") as log:
        r = runtime_cli(
            "run", "-d", "--bundle", bundle, "cliexec", stdout=log, stderr=log, capture_output=False
        )
    assert r.returncode == 0
    try:
        r = runtime_cli("exec", "cliexec", "sh", "-c", "echo in; exit 9")
        assert (r.returncode, r.stdout) == (9, "in\n")
        r = runtime_cli(
            "exec", "--env", "X=1", "--cwd", "/tmp", "cliexec", "sh", "-c", "echo $X $(pwd)"
        )
        assert r.stdout == "1 /tmp\n"
        proc = tmp_path / "process.json"
        proc.write_text(json.dumps({"args": ["sh", "-c", "exit 3"], "cwd": "/"}))
        assert runtime_cli("exec", "--process", str(proc), "cliexec").returncode == 3
        # runc's --user UID[:GID]: without a GID the spec's gid stays
        r = runtime_cli("exec", "--user", "1000", "cliexec", "id")
        assert r.stdout.startswith("uid=1000 gid=100"), r.stdout + r.stderr
        r = runtime_cli("exec", "-u", "1000:1001", "cliexec", "id")
        assert r.stdout.startswith("uid=1000 gid=1001"), r.stdout + r.stderr
        r = runtime_cli("exec", "--user", "nobody", "cliexec", "id")
        assert r.returncode == 1 and "parsing nobody as int for uid failed" in r.stderr
        # --cap adds to the bounding, effective and permitted sets (runc spec's defaults
        # are CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE: 0x20000420)
        r = runtime_cli(
            "exec", "--cap", "CAP_SYS_ADMIN", "cliexec", "grep", "CapEff", "/proc/self/status"
        )
        assert r.returncode == 0, r.stderr
        assert int(r.stdout.split()[1], 16) == 0x20000420 | (1 << 21)
        bad = tmp_path / "bad-process.json"
        bad.write_text('{"args": ["true"], ')
        r = runtime_cli("exec", "--process", str(bad), "cliexec")
        assert r.returncode == 1 and "malformed JSON" in r.stderr and "Traceback" not in r.stderr
        listed = runtime_cli("list").stdout.splitlines()
        assert listed[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
        assert listed[1].split()[0] == "cliexec" and listed[1].split()[2] == "running"
    finally:
        assert runtime_cli("delete", "--force", "cliexec").returncode == 0


def test_hooks_run_in_order_with_state(bundles, rt, tmp_path):
    log = tmp_path / "hooks.log"
    script = tmp_path / "hook.sh"
    script.write_text(f'#!/bin/sh\necho "$1 $(cat)" >> {log}\n')
    script.chmod(0o755)

    def hook(kind):
        return [{"path": str(script), "args": ["hook.sh", kind]}]

    def edit(conf):
        conf["hooks"] = {
            k: hook(k)
            for k in ("prestart", "createRuntime", "createContainer", "poststart", "poststop")
        }

    bundle = bundles.make(["true"], edit=edit)
    assert rt.run("hooks", bundle) == 0
    lines = log.read_text().splitlines()
    kinds = [line.split(" ", 1)[0] for line in lines]
    assert kinds == ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]
    states = [json.loads(line.split(" ", 1)[1]) for line in lines]
    assert all(s["id"] == "hooks" and s["bundle"] == bundle for s in states)
    assert states[0]["pid"] > 0
    assert states[-1]["status"] == "stopped"


def test_failing_prestart_hook_aborts_create(bundles, rt, tag, leftover_children):
    bundle = bundles.make(
        ["true"],
        edit=lambda c: c.update(
            hooks={"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 4"]}]}
        ),
    )
    with pytest.raises(SystemError_, match="prestart hook /bin/sh: exit status 4: nope"):
        rt.create("hookfail", bundle)
    assert rt.list() == []
    bundle = bundles.make(
        ["true"],
        edit=lambda c: c.update(
            hooks={"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "5"], "timeout": 1}]}
        ),
    )
    with pytest.raises(SystemError_, match="timed out"):
        rt.create("hooktimeout", bundle)
    assert rt.list() == []
    assert leftover_children() == []


def test_join_namespaces_by_path(bundles, rt, tmp_path):
    def edit_first(conf):
        conf["hostname"] = "shared-uts"
        conf["linux"]["namespaces"].append({"type": "cgroup"})

    first = bundles.make(["sleep", "30"], edit=edit_first)
    pid = rt.create("first", first)
    try:
        rt.start("first")

        def edit(conf):
            for ns in conf["linux"]["namespaces"]:
                if ns["type"] in ("network", "uts", "ipc"):
                    ns["path"] = f"/proc/{pid}/ns/" + {"network": "net"}.get(ns["type"], ns["type"])
            conf.pop("hostname", None)

        second = bundles.make(["sh", "-c", "hostname; readlink /proc/self/ns/net"], edit=edit)
        status, out = run_capture(rt, "second", second, tmp_path)
        assert status == 0, out
        assert out.splitlines()[0] == "shared-uts"
        assert out.splitlines()[1] == os.readlink(f"/proc/{pid}/ns/net")

        # the pid and cgroup namespaces by path: the first container's init is visible as
        # pid 1, and the second lands in the namespaces of the first, not new ones
        def edit_pid(conf):
            conf["linux"]["namespaces"].append({"type": "cgroup"})
            for ns in conf["linux"]["namespaces"]:
                if ns["type"] in ("pid", "cgroup"):
                    ns["path"] = f"/proc/{pid}/ns/{ns['type']}"

        first_cgns = f"/proc/{pid}/ns/cgroup"
        third = bundles.make(
            [
                "sh",
                "-c",
                "cat /proc/1/cmdline | tr '\\0' ' '; echo; "
                "readlink /proc/self/ns/pid; readlink /proc/self/ns/cgroup",
            ],
            edit=edit_pid,
        )
        status, out = run_capture(rt, "third", third, tmp_path)
        assert status == 0, out
        lines = out.splitlines()
        assert lines[0].strip() == "sleep 30", out
        assert lines[1] == os.readlink(f"/proc/{pid}/ns/pid")
        assert lines[2] == os.readlink(first_cgns)
        assert lines[2] != os.readlink("/proc/self/ns/cgroup")
    finally:
        rt.delete("first", force=True)
    wait_status(pid)


def test_process_settings(bundles, rt, tmp_path):
    def edit(conf):
        conf["process"].update(
            user={"uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 0o077},
            rlimits=[{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}],
            oomScoreAdj=500,
            noNewPrivileges=False,
        )
        conf["domainname"] = "example.test"
        conf["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.msgmax": "12345"}

    bundle = bundles.make(
        [
            "sh",
            "-c",
            "id; umask; ulimit -n; ulimit -Hn; "
            "cat /proc/self/oom_score_adj; cat /proc/sys/kernel/domainname; "
            "cat /proc/sys/net/ipv4/ip_forward; "
            "grep NoNewPrivs /proc/self/status; cat /proc/sys/kernel/msgmax",
        ],
        edit=edit,
        writable=True,
    )
    os.chmod(os.path.join(bundle, "rootfs"), 0o755)

    def host_sysctls() -> list[str]:
        values = []
        for name in ("kernel/msgmax", "kernel/domainname"):
            with open(f"/proc/sys/{name}") as f:
                values.append(f.read())
        return values

    before = host_sysctls()
    status, out = run_capture(rt, "settings", bundle, tmp_path)
    assert status == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("uid=1000 gid=1000 groups=")
    assert "10" in lines[0] and "20" in lines[0]
    assert lines[1:7] == ["0077", "100", "200", "500", "example.test", "1"]
    assert lines[7].split() == ["NoNewPrivs:", "0"]
    assert lines[8] == "12345"  # an IPC sysctl, in the container's IPC namespace
    assert host_sysctls() == before  # the host's values are untouched


def test_bind_mount_options_and_readonly_root(bundles, rt, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "file").write_text("content")

    def edit(conf):
        conf["mounts"].append(
            {
                "destination": "/data",
                "type": "bind",
                "source": str(src),
                "options": ["rbind", "ro", "nosuid", "nodev", "rprivate"],
            }
        )

    bundle = bundles.make(
        [
            "sh",
            "-c",
            "cat /data/file; echo; grep ' /data ' "
            "/proc/self/mountinfo; touch /data/x 2>&1; touch /rootx 2>&1; true",
        ],
        edit=edit,
    )
    status, out = run_capture(rt, "binds", bundle, tmp_path)
    assert status == 0, out
    lines = out.splitlines()
    assert lines[0] == "content"
    opts = lines[1].split()[5].split(",")
    assert {"ro", "nosuid", "nodev"} <= set(opts)
    assert "Read-only file system" in lines[2] and "Read-only file system" in lines[3]
    assert not (src / "x").exists()


def test_cgroup_namespace(bundles, rt, tmp_path):
    bundle = bundles.make(
        ["cat", "/proc/self/cgroup"],
        edit=lambda c: c["linux"]["namespaces"].append({"type": "cgroup"}),
    )
    status, out = run_capture(rt, "cgns", bundle, tmp_path)
    assert status == 0, out
    assert all(line.endswith(":/") for line in out.splitlines()), out


@pytest.mark.parametrize("nnp", [True, False])
def test_seccomp_filter_is_loaded(bundles, rt, tmp_path, nnp):
    def edit(conf):
        conf["process"]["noNewPrivileges"] = nnp
        conf["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
            ],
        }

    bundle = bundles.make(
        [
            "sh",
            "-c",
            "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; mkdir /dev/shm/x 2>&1; echo rc=$?",
        ],
        edit=edit,
    )
    status, out = run_capture(rt, f"seccomp-{nnp}", bundle, tmp_path)
    assert status == 0, out
    assert "Seccomp:\t2" in out
    assert f"NoNewPrivs:\t{int(nnp)}" in out
    assert "Operation not permitted" in out and "rc=1" in out


def test_failing_poststop_hook_does_not_stop_delete(bundles, rt, caplog):
    bundle = bundles.make(
        ["true"],
        edit=lambda c: c.update(hooks={"poststop": [{"path": "/bin/false", "args": ["false"]}]}),
    )
    assert rt.run("poststop", bundle) == 0
    assert rt.list() == []
    assert "poststop hook /bin/false: exit status 1" in caplog.text


def test_cli_run_with_terminal_proxies_the_pty(bundles, state_root):
    """`run` of a terminal=true bundle without --console-socket copies between its own
    terminal and the container's pty, as runc does."""
    import pty
    import subprocess
    import sys

    bundle = bundles.make(
        ["sh", "-c", "tty; read x; echo got:$x; exit 6"],
        edit=lambda c: c["process"].update(terminal=True),
    )
    exe = os.path.join(os.path.dirname(sys.executable), "dockyard-runtime")
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(
            [exe, "--root", state_root, "run", "--bundle", bundle, "ttyrun"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
        )
        os.close(slave)
        out = _read_until(master, b"/dev/pts/")
        os.write(master, b"hello\r")
        out += _read_until(master, b"got:hello")
        assert p.wait(10) == 6, out
        assert b"/dev/pts/0" in out and b"got:hello" in out, out
    finally:
        os.close(master)


def test_start_container_hook_runs_inside_before_the_program(bundles, rt, tmp_path):
    out = tmp_path / "out"
    out.mkdir()

    def edit(conf):
        conf["mounts"].append(
            {"destination": "/out", "type": "bind", "source": str(out), "options": ["rbind"]}
        )
        conf["hooks"] = {
            "startContainer": [
                {
                    "path": "/bin/sh",
                    "args": [
                        "sh",
                        "-c",
                        "hostname > /out/hook; cat >> /out/hook; echo >> /out/hook",
                    ],
                }
            ]
        }

    bundle = bundles.make(["sh", "-c", "echo program >> /out/hook"], edit=edit)
    assert rt.run("starthook", bundle) == 0
    lines = (out / "hook").read_text().splitlines()
    assert lines[0] == "runc"  # the container's hostname: the hook ran inside
    assert json.loads(lines[1])["id"] == "starthook"
    assert lines[2] == "program"


def test_rro_makes_submounts_read_only_too(bundles, rt, tmp_path):
    from dockyard.runtime import syscalls as sc

    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    sc.mount("tmpfs", str(src / "sub"), "tmpfs", 0, "size=1m")
    try:

        def edit(opt):
            def apply(conf):
                conf["mounts"].append(
                    {
                        "destination": "/data",
                        "type": "bind",
                        "source": str(src),
                        "options": ["rbind", opt],
                    }
                )

            return apply

        script = "touch /data/sub/x 2>&1 && echo writable; true"
        status, out = run_capture(
            rt, "rro", bundles.make(["sh", "-c", script], edit=edit("rro")), tmp_path
        )
        assert status == 0 and "Read-only file system" in out, out
        # plain "ro" is not recursive (as runc and Docker's ReadOnlyNonRecursive)
        status, out = run_capture(
            rt, "ro", bundles.make(["sh", "-c", script], edit=edit("ro")), tmp_path
        )
        assert status == 0 and "writable" in out, out
    finally:
        sc.umount2(str(src / "sub"), sc.MNT_DETACH)


def test_host_namespaces(bundles, rt, tmp_path):
    """--pid host --network host --ipc host --uts host: only the mount namespace is new."""

    def edit(conf):
        conf["linux"]["namespaces"] = [{"type": "mount"}]
        conf.pop("hostname", None)

    bundle = bundles.make(
        ["sh", "-c", "for n in net pid uts; do readlink /proc/self/ns/$n; done; echo $$"],
        edit=edit,
    )
    status, out = run_capture(rt, "hostns", bundle, tmp_path)
    assert status == 0, out
    lines = out.splitlines()
    assert lines[:3] == [os.readlink(f"/proc/self/ns/{n}") for n in ("net", "pid", "uts")]
    assert int(lines[3]) > 1


def test_cli_exec_tty_proxies_the_pty(bundles, runtime_cli, state_root, tmp_path):
    import pty
    import subprocess
    import sys

    bundle = bundles.make(["sleep", "30"])
    with open(tmp_path / "log", "w") as log:
        r = runtime_cli(
            "run", "-d", "--bundle", bundle, "exectty", stdout=log, stderr=log, capture_output=False
        )
    assert r.returncode == 0
    exe = os.path.join(os.path.dirname(sys.executable), "dockyard-runtime")
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(
            [
                exe,
                "--root",
                state_root,
                "exec",
                "-t",
                "exectty",
                "sh",
                "-c",
                "tty; read x; echo got:$x; exit 4",
            ],
            stdin=slave,
            stdout=slave,
            stderr=slave,
        )
        os.close(slave)
        out = _read_until(master, b"/dev/pts/")
        os.write(master, b"hi\r")
        out += _read_until(master, b"got:hi")
        assert p.wait(10) == 4, out
        assert b"/dev/pts/" in out and b"got:hi" in out, out
    finally:
        os.close(master)
        runtime_cli("delete", "-f", "exectty")
