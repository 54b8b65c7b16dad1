"""Issue 6 through real clients: the docker CLI (classic builder), the docker SDK and
dockyard's CLI build against our daemon (streamed output, tags, cache, exit statuses, every
POST /build parameter, build cache prune and df); and the same Dockerfiles built by Docker's
own classic builder (Debian's dockerd on private roots) give the same config, history,
files and errors."""

from __future__ import annotations

import os
import re
import tempfile

import docker
import pytest

from daemon_fixture import running_daemon


@pytest.fixture(scope="module")
def d(busybox_rootfs):
    with running_daemon() as daemon:
        daemon.import_busybox(busybox_rootfs)
        yield daemon


@pytest.fixture
def ctx():
    with tempfile.TemporaryDirectory(prefix="dyb-ctx-") as path:
        yield path


def docker_env(d, extra: dict[str, str], *args: str):
    import subprocess

    from daemon_fixture import DOCKER

    return subprocess.run(
        [DOCKER, *args], env={**d.env, **extra}, capture_output=True, text=True, timeout=120
    )


def write(ctx: str, files: dict[str, str]) -> str:
    for name, text in files.items():
        full = os.path.join(ctx, name)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    return ctx


APP = {
    "Dockerfile": "FROM busybox\nWORKDIR /app\nCOPY msg.txt .\nRUN echo built-by-run\n"
    'CMD ["cat", "/app/msg.txt"]\n',
    "msg.txt": "hello from the build\n",
    ".dockerignore": "secret\n",
    "secret": "s",
}


def test_docker_cli_classic_build(d, ctx) -> None:
    write(ctx, APP)
    env = {"DOCKER_BUILDKIT": "0"}
    r = docker_env(d, env, "build", "-t", "cli-built", ctx)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "Step 1/5 : FROM busybox" in r.stdout
    assert "built-by-run" in r.stdout
    assert "Successfully tagged cli-built:latest" in r.stdout
    assert d.docker("run", "--rm", "cli-built").stdout == "hello from the build\n"
    again = docker_env(d, env, "build", "-t", "cli-built", ctx)
    assert again.returncode == 0
    assert again.stdout.count(" ---> Using cache") == 4
    ls = d.docker("run", "--rm", "cli-built", "ls", "/app")
    assert ls.stdout.split() == ["msg.txt"]


def test_docker_cli_failing_run_exit_status(d, ctx) -> None:
    write(ctx, {"Dockerfile": "FROM busybox\nRUN echo doomed && exit 3\n"})
    r = docker_env(d, {"DOCKER_BUILDKIT": "0"}, "build", ctx)
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "doomed" in r.stdout
    assert "The command '/bin/sh -c echo doomed && exit 3' returned a non-zero code: 3" in r.stderr
    assert d.docker("ps", "-aq").stdout == ""


def test_docker_cli_parse_error(d, ctx) -> None:
    write(ctx, {"Dockerfile": "FROM busybox\nFROMM x\n"})
    r = docker_env(d, {"DOCKER_BUILDKIT": "0"}, "build", ctx)
    assert r.returncode == 1
    assert (
        "Error response from daemon: dockerfile parse error on line 2: unknown instruction: FROMM"
        in r.stderr
    )


def test_docker_sdk_build(d, ctx) -> None:
    write(ctx, APP)
    client = docker.DockerClient(base_url=d.host, version="1.47")
    try:
        image, logs = client.images.build(path=ctx, tag="sdk-built:1", buildargs={"X": "1"})
        assert "sdk-built:1" in image.tags
        assert image.attrs["Config"]["Cmd"] == ["cat", "/app/msg.txt"]
        assert image.attrs["Config"]["WorkingDir"] == "/app"
        assert any("built-by-run" in chunk.get("stream", "") for chunk in logs)
        write(ctx, {"Dockerfile": "FROM busybox\nRUN exit 5\n"})
        with pytest.raises(docker.errors.BuildError) as info:
            client.images.build(path=ctx)
        assert "returned a non-zero code: 5" in str(info.value)
        # the SDK's rm defaults to False: Docker keeps the failed step's container
        assert 5 in [c.attrs["State"]["ExitCode"] for c in client.containers.list(all=True)]
    finally:
        _remove_all(client)
        client.close()


def test_dockyard_cli_build(d, ctx) -> None:
    write(ctx, APP)
    r = d.dockyard("build", "-t", "dy-built", "--label", "a=b", ctx)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.startswith("Sending build context to Docker daemon")
    assert "Step 6/6 : LABEL a=b" in r.stdout
    assert "Successfully tagged dy-built:latest" in r.stdout
    assert r.stderr.startswith("Build took ")
    q = d.dockyard("build", "-q", ctx)
    assert q.returncode == 0 and q.stdout.startswith("sha256:"), q
    write(ctx, {"Dockerfile": "FROM busybox\nRUN exit 4\n"})
    bad = d.dockyard("build", ctx)
    assert bad.returncode == 4
    assert "returned a non-zero code: 4" in bad.stderr
    stdin = d.dockyard("build", "-t", "from-stdin", "-", input='FROM busybox\nCMD ["x"]\n')
    assert stdin.returncode == 0, stdin.stderr


def test_dockyard_cli_build_flags(d, ctx) -> None:
    dockerfile = (
        "FROM busybox AS first\nARG V=default\nRUN echo $V > /v && wc -l < /proc/net/dev > /n\n"
        'FROM first AS second\nCMD ["never"]\n'
    )
    write(ctx, {"other.Dockerfile": dockerfile})
    iid = os.path.join(ctx, "iid")
    args = ["build", "-f", "other.Dockerfile", "--build-arg", "V=given", "--target", "first",
            "--network", "none", "--iidfile", iid, "-t", "flags-test", ctx]  # fmt: skip
    first = d.dockyard(*args)
    assert first.returncode == 0, first.stderr
    assert "Step 3/3 : RUN echo $V > /v" in first.stdout and "never" not in first.stdout
    with open(iid) as f:
        image_id = f.read()
    assert image_id.startswith("sha256:")
    assert d.docker("image", "inspect", "-f", "{{.Id}}", "flags-test").stdout.strip() == image_id
    out = d.docker("run", "--rm", "flags-test", "cat", "/v", "/n").stdout.split()
    assert out == ["given", "3"]  # the build arg, and --network none: lo only
    again = d.dockyard(*args)
    assert again.stdout.count(" ---> Using cache") == 2, again.stdout
    fresh = d.dockyard(*args[:-1], "--no-cache", ctx)
    assert "Using cache" not in fresh.stdout and fresh.returncode == 0
    d.docker("builder", "prune", "-f")
    seeded = d.dockyard(*args[:-1], "--cache-from", "flags-test", ctx)
    assert seeded.stdout.count(" ---> Using cache") == 2, seeded.stdout


def test_interrupted_client_stops_the_build(d, ctx) -> None:
    import signal
    import subprocess
    import time

    from daemon_fixture import DOCKER

    write(ctx, {"Dockerfile": "FROM busybox\nRUN echo started && sleep 60\n"})
    proc = subprocess.Popen(
        [DOCKER, "build", "--no-cache", ctx],
        env={**d.env, "DOCKER_BUILDKIT": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        for line in proc.stdout:
            if line == "started\n" or time.monotonic() > deadline:
                break
        assert d.docker("ps", "-q").stdout.strip() != ""
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 15
        while d.docker("ps", "-aq").stdout.strip() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert d.docker("ps", "-aq").stdout == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_docker_cli_picks_the_classic_builder_by_itself(d, ctx) -> None:
    # the daemon's /_ping says Builder-Version: 1, so no DOCKER_BUILDKIT=0 is needed
    write(ctx, {"Dockerfile": 'FROM busybox\nCMD ["true"]\n'})
    env = {k: v for k, v in d.env.items() if k != "DOCKER_BUILDKIT"}
    import subprocess

    from daemon_fixture import DOCKER

    r = subprocess.run([DOCKER, "build", "-t", "auto-classic", ctx], env=env,
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Successfully tagged auto-classic:latest" in r.stdout


def _build_cache_count(d) -> int:
    r = d.docker("system", "df", "--format", "{{.Type}}={{.TotalCount}}")
    assert r.returncode == 0, r.stderr
    counts = dict(line.split("=", 1) for line in r.stdout.splitlines())
    return int(counts["Build Cache"])


def test_builder_prune_and_system_prune(d, ctx) -> None:
    import uuid

    env = {"DOCKER_BUILDKIT": "0"}
    write(ctx, {"Dockerfile": f"FROM busybox\nLABEL p={uuid.uuid4().hex}\nRUN echo x > /x\n"})
    assert docker_env(d, env, "build", "-t", "prune-me", ctx).returncode == 0
    assert _build_cache_count(d) >= 2  # LABEL and RUN
    du = d.docker("system", "df", "-v")
    assert "Build cache usage" in du.stdout and "regular" in du.stdout, du.stdout
    client = docker.APIClient(base_url=d.host, version="1.47")
    try:
        records = client.df()["BuildCache"]
    finally:
        client.close()
    assert "/bin/sh -c echo x > /x" in [r["Description"] for r in records]

    pruned = d.docker("builder", "prune", "-f")
    assert pruned.returncode == 0, pruned.stderr
    assert "Total:" in pruned.stdout or "Total reclaimed space" in pruned.stdout, pruned.stdout
    assert _build_cache_count(d) == 0
    again = docker_env(d, env, "build", "-t", "prune-me", ctx)
    assert again.returncode == 0 and "Using cache" not in again.stdout, again.stdout
    assert _build_cache_count(d) >= 2

    system = d.docker("system", "prune", "-f")
    assert system.returncode == 0, system.stderr
    assert "Total reclaimed space" in system.stdout, system.stdout
    assert _build_cache_count(d) == 0
    assert d.docker("image", "inspect", "prune-me").returncode == 0  # tagged images stay

    bad = d.docker("builder", "prune", "-f", "--filter", "colour=red")
    assert bad.returncode != 0 and "invalid filter 'colour'" in bad.stderr


def test_docker_sdk_build_parameters(d, ctx) -> None:
    """labels, target, network_mode, platform, cache_from, forcerm through POST /build."""
    import uuid

    mark = uuid.uuid4().hex
    dockerfile = (
        f"FROM busybox AS base\nLABEL run={mark}\nRUN wc -l < /proc/net/dev > /ifaces\n"
        "FROM base AS final\nRUN echo final > /f\n"
    )
    write(ctx, {"Dockerfile.custom": dockerfile})
    client = docker.DockerClient(base_url=d.host, version="1.47")
    try:
        image, _ = client.images.build(
            path=ctx,
            dockerfile="Dockerfile.custom",
            tag=f"params-{mark}:base",
            target="base",
            labels={"from.option": "yes"},
            network_mode="none",
            platform="linux/amd64",
        )
        labels = image.attrs["Config"]["Labels"]
        assert labels == {"run": mark, "from.option": "yes"}
        assert "final" not in str(image.history())  # only the target's stages ran
        out = client.containers.run(image.id, ["cat", "/ifaces"], remove=True)
        assert out.strip() == b"3"  # --network none: lo only (and the two header lines)

        with pytest.raises(docker.errors.BuildError) as info:
            client.images.build(path=ctx, dockerfile="Dockerfile.custom", platform="linux/arm64")
        assert "does not match the specified platform: wanted linux/arm64" in str(info.value)

        # cache_from: with the build cache emptied, the tagged image seeds it
        full, _ = client.images.build(path=ctx, dockerfile="Dockerfile.custom",
                                      tag=f"params-{mark}:full")  # fmt: skip
        client.api.prune_builds()
        seeded, logs = client.images.build(
            path=ctx, dockerfile="Dockerfile.custom", cache_from=[f"params-{mark}:full"]
        )
        streams = "".join(chunk.get("stream", "") for chunk in logs)
        assert streams.count("Using cache") == 3, streams
        assert seeded.attrs["RootFS"]["Layers"] == full.attrs["RootFS"]["Layers"]

        # The SDK's rm defaults to False: the RUN steps' containers were kept, as Docker does.
        assert len(client.containers.list(all=True)) == 2
        _remove_all(client)
        # forcerm: a failing step's container is removed even with rm=False
        write(ctx, {"Dockerfile": "FROM busybox\nRUN exit 2\n"})
        with pytest.raises(docker.errors.BuildError):
            client.images.build(path=ctx, rm=False, forcerm=True)
        assert client.containers.list(all=True) == []
        with pytest.raises(docker.errors.BuildError):
            client.images.build(path=ctx, rm=False)
        kept = client.containers.list(all=True)
        assert [c.attrs["State"]["ExitCode"] for c in kept] == [2]
    finally:
        _remove_all(client)
        client.close()


def _remove_all(client) -> None:
    for container in client.containers.list(all=True):
        container.remove(force=True)


# --- the same Dockerfiles through Docker's own classic builder (Debian's dockerd) ----------

DOCKERD = "/usr/sbin/dockerd"
REFERENCE_APP = {
    "Dockerfile": "FROM busybox\nWORKDIR /code\nENV FLASK_APP=app.py FLASK_RUN_HOST=0.0.0.0\n"
    "RUN mkdir -p /deps && echo base > /deps/marker\nCOPY requirements.txt requirements.txt\n"
    "RUN cat requirements.txt > /deps/installed\nEXPOSE 5000\nCOPY . .\n"
    'CMD ["flask", "run"]\n',
    "requirements.txt": "flask\nredis\n",
    "app.py": "print('hello')\n",
    "static/style.css": "body {}\n",
}
EVERY_METADATA_INSTRUCTION = {
    "Dockerfile": 'ARG BASE=busybox\nFROM $BASE AS base\nARG V=1\nLABEL a=b "c d"=$V\n'
    "MAINTAINER Jane <j@example.com>\nUSER nobody\nWORKDIR rel\nWORKDIR sub\n"
    'ENV X=1 Y="two words"\nENV Z ${X:+set}\nEXPOSE 80 53/udp\nVOLUME /data\nVOLUME ["/v2", "/v3"]\n'
    "STOPSIGNAL SIGINT\nHEALTHCHECK --interval=5s --retries=2 CMD true\n"
    'SHELL ["/bin/sh", "-ec"]\nONBUILD RUN echo hi\nENTRYPOINT exec top -b\n'
    "RUN echo $V > /tmp/v\nCMD echo default\n",
}
SUBSTITUTION_AND_FORMS = {
    "Dockerfile": "ARG A=outer\nFROM busybox AS one\nARG A\n"
    "ENV B=${A:-none} C=${UNSET:-dflt} D=${A:+alt} E=\\$A F=\"${A}x\" G='$A'\n"
    'LABEL "multi word"="v w" k=${B}\nENTRYPOINT ["/bin/echo"]\nCMD ["hi"]\n'
    "FROM one\nENTRYPOINT echo x\n",
}
ESCAPE_DIRECTIVE = {
    "Dockerfile": "# escape=`\nFROM busybox\nENV P=C:\\path Q=a`$b\n"
    "RUN echo one `\n  two > /x\nCMD echo `\n  $P\n",
}
COPY_RULES = {
    "Dockerfile": "FROM busybox AS src\n"
    "RUN mkdir -p /out/sub && echo a > /out/a && echo b > /out/sub/b && chmod 600 /out/a\n"
    "FROM busybox\nWORKDIR /w\nCOPY --chown=nobody:nogroup a.txt rel/\nCOPY --chown=1 a.txt /o1\n"
    "COPY dir /d1\nCOPY dir/ /d2/\nCOPY *.txt /many/\nCOPY --from=src /out /fromstage\n"
    "COPY --from=0 --chown=daemon /out/a /fromstage-a\nADD arch.tar /arch/\n"
    "ADD arch.tar.gz /archgz\nCOPY arch.tar /notextracted/\nADD dir /added-dir/\n",
    "a.txt": "A\n",
    "b.txt": "B\n",
    "dir/x": "X\n",
    "dir/inner/y": "Y\n",
}
TREE_PATHS = ("/w", "/o1", "/d1", "/d2", "/many", "/fromstage", "/fromstage-a", "/arch",
              "/archgz", "/notextracted", "/added-dir")  # fmt: skip


def _archives(ctx: str) -> None:
    import io
    import tarfile

    for name, mode in (("arch.tar", "w"), ("arch.tar.gz", "w:gz")):
        with tarfile.open(os.path.join(ctx, name), mode) as tar:
            for member, data, perm in (("t/one", b"1\n", 0o640), ("t/two", b"22\n", 0o755)):
                info = tarfile.TarInfo(member)
                info.size, info.mode, info.uid, info.gid = len(data), perm, 7, 8
                tar.addfile(info, io.BytesIO(data))


def _tree(env: dict[str, str], image: str, extra: list[str]) -> list[str]:
    """Path, mode, owner, size and type of everything under TREE_PATHS in `image`."""
    import subprocess

    from daemon_fixture import DOCKER

    script = "find " + " ".join(TREE_PATHS) + " -exec stat -c '%n %a %u:%g %s %F' {} + | sort"
    r = subprocess.run([DOCKER, "run", "--rm", *extra, image, "sh", "-c", script], env=env,
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    # a directory's size is the file system's business, not the builder's
    return [re.sub(r" \d+ directory$", " directory", line) for line in r.stdout.splitlines()]


def test_files_equal_dockers_classic_builder(d, dockerd, ctx) -> None:
    write(ctx, COPY_RULES)
    _archives(ctx)
    _built(dockerd, ctx, "files:docker")
    _built({**d.env, "DOCKER_BUILDKIT": "0"}, ctx, "files:dockyard")
    theirs = _tree(dockerd, "files:docker", ["--network", "none"])
    ours = _tree(d.env, "files:dockyard", [])
    assert ours == theirs
    assert "/arch/t/two 755 7:8 3 regular file" in ours  # extracted, owners kept


CONFIG_KEYS = ("Env", "WorkingDir", "ExposedPorts", "Cmd", "Entrypoint", "User", "Labels",
               "Volumes", "StopSignal", "Healthcheck", "Shell", "OnBuild")  # fmt: skip


@pytest.fixture(scope="module")
def dockerd(busybox_rootfs):
    """Docker's daemon on private roots (no bridge, no iptables), with the same busybox."""
    import shutil
    import signal
    import subprocess
    import time

    from daemon_fixture import DOCKER

    if not os.path.exists(DOCKERD):
        pytest.skip("no dockerd installed to compare with")
    root = tempfile.mkdtemp(prefix="dyb-dockerd-")
    sock = os.path.join(root, "d.sock")
    with open(os.path.join(root, "daemon.json"), "w") as f:
        f.write("{}")
    log = open(os.path.join(root, "log"), "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [DOCKERD, "-H", f"unix://{sock}", "--data-root", f"{root}/data", "--exec-root",
         f"{root}/exec", "--pidfile", f"{root}/d.pid", "--config-file",
         f"{root}/daemon.json", "--bridge", "none", "--iptables=false", "--ip6tables=false",
         "--ip-masq=false"],
        stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}", DOCKER_CONFIG=f"{root}/cfg",
               DOCKER_BUILDKIT="0")  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([DOCKER, "version"], env=env, capture_output=True).returncode:
            assert proc.poll() is None and time.monotonic() < deadline, "dockerd did not start"
            time.sleep(0.3)
        with tempfile.TemporaryDirectory() as tmp:
            tar = os.path.join(tmp, "busybox.tar")
            subprocess.run(["tar", "-C", busybox_rootfs, "-cf", tar, "."], check=True)
            subprocess.run([DOCKER, "import", "-c", 'CMD ["sh"]', tar, "busybox:latest"],
                           env=env, check=True, capture_output=True)  # fmt: skip
        yield env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f if root in line.split()[4]]
        for mount in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _built(env: dict[str, str], ctx: str, tag: str) -> tuple[dict, list[str]]:
    """Build with the classic builder; the image's config and its steps' history lines."""
    import json
    import subprocess

    from daemon_fixture import DOCKER

    r = subprocess.run([DOCKER, "build", "--network", "none", "-t", tag, ctx], env=env,
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, (r.stdout, r.stderr)
    inspect = subprocess.run([DOCKER, "image", "inspect", tag], env=env, capture_output=True,
                             text=True, check=True)  # fmt: skip
    history = subprocess.run(
        [DOCKER, "history", "--no-trunc", "--format", "{{.CreatedBy}}", tag],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(inspect.stdout)[0], history.stdout.splitlines()


def _api_version(env: dict[str, str]) -> tuple[int, ...]:
    import subprocess

    from daemon_fixture import DOCKER

    r = subprocess.run([DOCKER, "version", "--format", "{{.Server.APIVersion}}"], env=env,
                       capture_output=True, text=True, check=True)  # fmt: skip
    return tuple(int(x) for x in r.stdout.strip().split("."))


@pytest.mark.parametrize(
    "files",
    [REFERENCE_APP, EVERY_METADATA_INSTRUCTION, SUBSTITUTION_AND_FORMS, ESCAPE_DIRECTIVE],
    ids=["reference-app", "metadata", "substitution", "escape"],
)
def test_config_equals_dockers_classic_builder(d, dockerd, ctx, files) -> None:
    write(ctx, files)
    theirs, their_history = _built(dockerd, ctx, "compare:docker")
    ours, our_history = _built({**d.env, "DOCKER_BUILDKIT": "0"}, ctx, "compare:dockyard")
    for key in CONFIG_KEYS:
        assert ours["Config"].get(key) == theirs["Config"].get(key), key
    assert ours["Author"] == theirs["Author"]
    # history, newest first, down to the base image's lines (COPY hashes: same form)
    steps = len(their_history) - 1
    same_hash = re.compile(r"(file|dir):[0-9a-f]{64}")
    ours_lines = [same_hash.sub(r"\1:H", h) for h in our_history[:steps]]
    if _api_version(dockerd) < (1, 44):  # before Docker 25 HealthConfig had no StartInterval
        start_interval = re.compile(r'(HEALTHCHECK &\{\[.*?\] "[^"]*" "[^"]*" "[^"]*") "[^"]*"')
        ours_lines = [start_interval.sub(r"\1", h) for h in ours_lines]
    assert ours_lines == [same_hash.sub(r"\1:H", h) for h in their_history[:steps]]
    assert len(ours["RootFS"]["Layers"]) == len(theirs["RootFS"]["Layers"])


BAD_BUILDS = {
    "failing-run": ("FROM busybox\nRUN echo doomed && exit 3\n", {}),
    "copy-missing": ("FROM busybox\nCOPY missing.txt /\n", {}),
    "copy-outside": ("FROM busybox\nCOPY ../x /x\n", {}),
    "unknown-instruction": ("FROM busybox\nFROMM x\n", {}),
    "unknown-target": ('FROM busybox AS a\nCMD ["x"]\n', {"target": "nope"}),
    "empty-volume": ('FROM busybox\nVOLUME ""\n', {}),
    "bad-stopsignal": ("FROM busybox\nSTOPSIGNAL SIGNOPE\n", {}),
    "chown-unknown-user": ("FROM busybox\nCOPY --chown=nosuch a /a\n", {"a": "x"}),
}


# Docker 23+ (BuildKit's newer Dockerfile parser) words these differently from dockerd 20.10.
NEWER_WORDING = {
    "unknown-instruction": "Error response from daemon: dockerfile parse error on line 2: "
    "unknown instruction: FROMM (did you mean FROM?)",
}


@pytest.mark.parametrize("case", list(BAD_BUILDS), ids=list(BAD_BUILDS))
def test_errors_equal_dockers_classic_builder(d, dockerd, ctx, case) -> None:
    import subprocess

    from daemon_fixture import DOCKER

    dockerfile, extra = BAD_BUILDS[case]
    target = extra.pop("target", None) if "target" in extra else None
    write(ctx, {"Dockerfile": dockerfile, **extra})
    args = ["build", "--network", "none", *(["--target", target] if target else []), ctx]
    outcomes = []
    for env in (dockerd, {**d.env, "DOCKER_BUILDKIT": "0"}):
        r = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, timeout=60)
        outcomes.append((r.returncode, r.stderr.strip().splitlines()[-1:]))
    theirs, ours = outcomes
    if case in NEWER_WORDING and _api_version(dockerd) < (1, 44):
        theirs = (theirs[0], [NEWER_WORDING[case]])
    assert ours == theirs
