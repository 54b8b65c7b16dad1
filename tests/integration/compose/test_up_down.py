"""`up -d`, `ps`, `down`: networks, containers, labels, recreation and scale."""

from __future__ import annotations

SIMPLE = """
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo web ready; sleep 600"]
    stop_signal: SIGKILL
  db:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
"""


def test_up_creates_network_and_containers_with_labels_then_down_removes_them(compose):
    compose.write("compose.yaml", SIMPLE)
    r = compose.run("up", "-d")
    p = compose.name
    assert f"Network {p}_default" in r.stderr and "Created" in r.stderr
    assert f"Container {p}-web-1" in r.stderr and "Started" in r.stderr
    assert r.stderr.startswith("[+] Running 3/3")
    assert compose.names() == [f"{p}-db-1", f"{p}-web-1"]
    assert compose.networks() == [f"{p}_default"]
    info = compose.inspect(f"{p}-web-1")
    labels = info["Config"]["Labels"]
    assert labels["com.docker.compose.project"] == p
    assert labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.container-number"] == "1"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert len(labels["com.docker.compose.config-hash"]) == 64
    assert labels["com.docker.compose.project.working_dir"] == compose.dir
    assert labels["com.docker.compose.project.config_files"].endswith("/compose.yaml")
    assert info["State"]["Running"]
    ps = compose.run("ps")
    assert ps.stdout.splitlines()[0].split()[:4] == ["NAME", "IMAGE", "COMMAND", "SERVICE"]
    assert f"{p}-web-1" in ps.stdout and "Up" in ps.stdout

    r = compose.run("down")
    assert f"Container {p}-web-1" in r.stderr and "Removed" in r.stderr
    assert compose.names() == []
    assert compose.networks() == []


def test_up_twice_recreates_only_the_changed_service(compose):
    compose.write("compose.yaml", SIMPLE)
    compose.run("up", "-d")
    p = compose.name
    before = {n: compose.inspect(n)["Id"] for n in compose.names()}
    compose.write("compose.yaml", SIMPLE.replace("echo web ready", "echo web changed"))
    r = compose.run("up", "-d")
    after = {n: compose.inspect(n)["Id"] for n in compose.names()}
    assert after[f"{p}-db-1"] == before[f"{p}-db-1"]
    assert after[f"{p}-web-1"] != before[f"{p}-web-1"]
    assert f"Container {p}-web-1" in r.stderr and "Started" in r.stderr
    assert "Running" in [line.split()[-1] for line in r.stderr.splitlines() if "db-1" in line]
    # Nothing changed: nothing is recreated.
    r = compose.run("up", "-d")
    assert {n: compose.inspect(n)["Id"] for n in compose.names()} == after
    # --force-recreate recreates everything; --no-recreate keeps a changed service.
    compose.run("up", "-d", "--force-recreate")
    forced = {n: compose.inspect(n)["Id"] for n in compose.names()}
    assert not set(forced.values()) & set(after.values())
    compose.write("compose.yaml", SIMPLE.replace("echo web ready", "echo web again"))
    compose.run("up", "-d", "--no-recreate")
    assert {n: compose.inspect(n)["Id"] for n in compose.names()} == forced


def test_scale_up_and_down(compose):
    compose.write("compose.yaml", SIMPLE)
    p = compose.name
    compose.run("up", "-d", "--scale", "web=3")
    assert compose.names() == [f"{p}-db-1", f"{p}-web-1", f"{p}-web-2", f"{p}-web-3"]
    labels = compose.inspect(f"{p}-web-3")["Config"]["Labels"]
    assert labels["com.docker.compose.container-number"] == "3"
    first = compose.inspect(f"{p}-web-1")["Id"]
    r = compose.run("up", "-d", "--scale", "web=1")
    assert compose.names() == [f"{p}-db-1", f"{p}-web-1"]
    assert compose.inspect(f"{p}-web-1")["Id"] == first
    assert f"Container {p}-web-3" in r.stderr and "Removed" in r.stderr


def test_deploy_replicas_and_dns_answers_every_replica(compose):
    compose.write(
        "compose.yaml",
        """
        services:
          web:
            image: busybox
            command: ["sleep", "600"]
            stop_signal: SIGKILL
            deploy:
              replicas: 3
          client:
            image: busybox
            command: ["sleep", "600"]
            stop_signal: SIGKILL
        """,
    )
    p = compose.name
    compose.run("up", "-d")
    addresses = set()
    for n in (1, 2, 3):
        nets = compose.inspect(f"{p}-web-{n}")["NetworkSettings"]["Networks"]
        addresses.add(nets[f"{p}_default"]["IPAddress"])
    assert len(addresses) == 3
    out = compose.exec(f"{p}-client-1", "nslookup", "web")
    answered = {line.split()[-1] for line in out.splitlines() if line.startswith("Address")}
    assert addresses <= answered, out


def test_remove_orphans(compose):
    compose.write("compose.yaml", SIMPLE)
    p = compose.name
    compose.run("up", "-d")
    compose.write("compose.yaml", SIMPLE.split("  db:")[0])
    r = compose.run("up", "-d")
    assert "orphan containers" in r.stderr and f"{p}-db-1" in r.stderr
    assert f"{p}-db-1" in compose.names()
    compose.run("up", "-d", "--remove-orphans")
    assert compose.names() == [f"{p}-web-1"]
    # down leaves an orphan (and says so); down --remove-orphans takes it too
    compose.write("compose.yaml", SIMPLE)
    compose.run("up", "-d")
    compose.write("compose.yaml", SIMPLE.split("  db:")[0])
    r = compose.run("down")  # as Docker Compose: a warning, the network kept, success
    assert "orphan containers" in r.stderr and compose.names() == [f"{p}-db-1"]
    assert f"Network {p}_default" in r.stderr and "Resource is still in use" in r.stderr
    assert compose.networks() == [f"{p}_default"]
    compose.run("up", "-d")
    compose.run("down", "--remove-orphans")
    assert compose.names() == [] and compose.networks() == []


def test_recreated_dependency_restarts_dependents_with_restart_true(compose):
    text = """
    services:
      db:
        image: busybox
        command: ["sh", "-c", "echo VERSION; sleep 600"]
        stop_signal: SIGKILL
      web:
        image: busybox
        command: ["sleep", "600"]
        stop_signal: SIGKILL
        depends_on:
          db:
            condition: service_started
            restart: true
      other:
        image: busybox
        command: ["sleep", "600"]
        stop_signal: SIGKILL
        depends_on: [db]
    """
    compose.write("compose.yaml", text.replace("VERSION", "v1"))
    p = compose.name
    compose.run("up", "-d")
    before = {n: compose.inspect(n) for n in compose.names()}
    compose.write("compose.yaml", text.replace("VERSION", "v2"))
    compose.run("up", "-d")
    after = {n: compose.inspect(n) for n in compose.names()}
    assert after[f"{p}-db-1"]["Id"] != before[f"{p}-db-1"]["Id"]
    web_before, web_after = before[f"{p}-web-1"], after[f"{p}-web-1"]
    assert web_after["Id"] == web_before["Id"]
    assert web_after["State"]["StartedAt"] != web_before["State"]["StartedAt"]
    other_before, other_after = before[f"{p}-other-1"], after[f"{p}-other-1"]
    assert other_after["Id"] == other_before["Id"]
    assert other_after["State"]["StartedAt"] == other_before["State"]["StartedAt"]


def test_project_by_name_without_its_files(compose, tmp_path):
    compose.write(
        "compose.yaml",
        SIMPLE.replace("    stop_signal: SIGKILL\n  db:", "    stop_signal: SIGKILL\n"
                       "    volumes: [data:/data]\n    depends_on: [db]\n  db:")
        + "volumes:\n  data:\n",
    )  # fmt: skip
    p = compose.name
    compose.run("up", "-d")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ps = compose.run("ps", cwd=str(elsewhere)).stdout
    assert f"{p}-web-1" in ps and f"{p}-db-1" in ps
    r = compose.run("down", "-v", cwd=str(elsewhere))
    removed = [line.split()[2] for line in r.stderr.splitlines() if "Container" in line]
    assert removed == [f"{p}-web-1", f"{p}-db-1"]  # dependents first, from the labels
    assert compose.names() == [] and compose.networks() == [] and compose.volumes() == []
    r = compose.run("ps", cwd=str(elsewhere), project=False, check=False)
    assert r.returncode != 0 and "no configuration file provided" in r.stderr
