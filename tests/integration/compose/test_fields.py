"""Service fields as the engine receives them, and networks with aliases."""

from __future__ import annotations


def test_service_fields_reach_the_engine(compose):
    compose.write(
        "compose.yaml",
        """
        services:
          app:
            image: busybox
            command: ["sleep", "600"]
            entrypoint: ["timeout", "900"]
            user: "1000:1000"
            working_dir: /tmp
            hostname: apphost
            stop_signal: SIGTERM
            stop_grace_period: 3s
            restart: on-failure:2
            init: true
            read_only: true
            tty: true
            stdin_open: true
            cap_add: [NET_ADMIN]
            cap_drop: [MKNOD]
            ulimits:
              nofile: {soft: 1024, hard: 2048}
              nproc: 512
            mem_limit: 64m
            cpus: 0.5
            extra_hosts: ["somehost:10.1.2.3"]
            dns: [10.0.0.53]
            labels:
              com.example.role: test
            logging:
              driver: json-file
              options: {max-size: 1m}
            expose: ["7000"]
            healthcheck:
              test: ["CMD", "true"]
              interval: 2s
              timeout: 1s
              retries: 5
        """,
    )
    p = compose.name
    compose.run("up", "-d")
    info = compose.inspect(f"{p}-app-1")
    cfg, host = info["Config"], info["HostConfig"]
    assert cfg["Entrypoint"] == ["timeout", "900"] and cfg["Cmd"] == ["sleep", "600"]
    assert cfg["User"] == "1000:1000" and cfg["WorkingDir"] == "/tmp"
    assert cfg["Hostname"] == "apphost"
    assert cfg["StopSignal"] == "SIGTERM" and cfg["StopTimeout"] == 3
    assert cfg["Tty"] is True and cfg["OpenStdin"] is True
    assert cfg["Labels"]["com.example.role"] == "test"
    assert "7000/tcp" in cfg["ExposedPorts"]
    assert cfg["Healthcheck"] == {
        "Test": ["CMD", "true"], "Interval": 2_000_000_000, "Timeout": 1_000_000_000,
        "Retries": 5,
    }  # fmt: skip
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert host["Init"] is True and host["ReadonlyRootfs"] is True
    assert host["CapAdd"] == ["NET_ADMIN"] and host["CapDrop"] == ["MKNOD"]
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in host["Ulimits"]}
    assert ulimits == {"nofile": (1024, 2048), "nproc": (512, 512)}
    assert host["Memory"] == 64 * 1024 * 1024 and host["NanoCpus"] == 500_000_000
    assert host["ExtraHosts"] == ["somehost:10.1.2.3"] and host["Dns"] == ["10.0.0.53"]
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    # and the container really runs with them
    hosts = compose.exec(f"{p}-app-1", "cat", "/etc/hosts")
    assert "10.1.2.3" in hosts and "somehost" in hosts
    assert compose.exec(f"{p}-app-1", "id", "-u").strip() == "1000"
    assert compose.exec(f"{p}-app-1", "hostname").strip() == "apphost"
    assert compose.exec(f"{p}-app-1", "sh", "-c", "ulimit -n").strip() == "1024"


def test_env_file_and_container_name(compose):
    compose.write("app.env", "FROM_FILE=file\nBOTH=file\n")
    compose.write(
        "compose.yaml",
        f"""
        services:
          app:
            image: busybox
            command: ["sleep", "600"]
            stop_signal: SIGKILL
            container_name: {compose.name}-custom
            env_file: [app.env]
            environment:
              BOTH: inline
        """,
    )
    compose.run("up", "-d")
    assert compose.names() == [f"{compose.name}-custom"]
    env = dict(e.split("=", 1) for e in compose.inspect(f"{compose.name}-custom")["Config"]["Env"])
    assert env["FROM_FILE"] == "file" and env["BOTH"] == "inline"
    r = compose.run("exec", "-T", "app", "sh", "-c", "echo $FROM_FILE")
    assert r.stdout == "file\n"
    compose.run("down")
    assert compose.names() == []


def test_declared_networks_and_aliases(compose):
    compose.write(
        "compose.yaml",
        """
        services:
          api:
            image: busybox
            command: ["sleep", "600"]
            stop_signal: SIGKILL
            networks:
              front:
                aliases: [api.example]
              back:
          db:
            image: busybox
            command: ["sleep", "600"]
            stop_signal: SIGKILL
            networks: [back]
          web:
            image: busybox
            command: ["sleep", "600"]
            stop_signal: SIGKILL
            networks: [front]
        networks:
          front:
          back:
            internal: true
            labels:
              tier: back
        """,
    )
    p = compose.name
    compose.run("up", "-d")
    assert compose.networks() == [f"{p}_back", f"{p}_front"]
    back = compose.client.transport.request("GET", f"/networks/{p}_back")
    assert back["Internal"] is True and back["Labels"]["tier"] == "back"
    assert back["Labels"]["com.docker.compose.network"] == "back"
    nets = compose.inspect(f"{p}-api-1")["NetworkSettings"]["Networks"]
    assert set(nets) == {f"{p}_back", f"{p}_front"}
    api_front = nets[f"{p}_front"]["IPAddress"]
    out = compose.exec(f"{p}-web-1", "nslookup", "api.example")
    assert api_front in out, out
    out = compose.exec(f"{p}-db-1", "nslookup", "api")
    assert nets[f"{p}_back"]["IPAddress"] in out, out
    # web and db share no network: db's name does not resolve from web
    r = compose.d.docker("exec", f"{p}-web-1", "nslookup", "db")
    assert r.returncode != 0 or nets[f"{p}_back"]["IPAddress"] not in r.stdout
    compose.run("down")
    assert compose.networks() == []
