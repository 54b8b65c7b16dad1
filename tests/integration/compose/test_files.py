"""The project files: interpolation and .env, profiles, several -f files, `config`, and
bad files that must fail with a message naming the file and path and create nothing."""

from __future__ import annotations

import json

import pytest
import yaml


def _env(compose, name: str) -> dict[str, str]:
    env = compose.inspect(name)["Config"]["Env"]
    return dict(item.split("=", 1) for item in env)


def test_interpolation_and_dotenv(compose):
    compose.write(".env", "GREETING=hello from dotenv\nCOUNT=2\nSHELLWINS=from file\n")
    compose.write(
        "compose.yaml",
        """
        services:
          app:
            image: busybox
            command: ["sh", "-c", "echo $${GREETING}; sleep 600"]
            stop_signal: SIGKILL
            environment:
              GREETING: ${GREETING}
              DEFAULTED: ${UNSET_VAR:-fallback}
              EMPTYDEF: ${EMPTY_VAR-kept empty}
              SHELL_VALUE: ${SHELLWINS}
              LITERAL: "$$HOME"
            scale: ${COUNT}
        """,
    )
    p = compose.name
    compose.run("up", "-d", env={"SHELLWINS": "from shell", "EMPTY_VAR": ""})
    assert compose.names() == [f"{p}-app-1", f"{p}-app-2"]
    env = _env(compose, f"{p}-app-1")
    assert env["GREETING"] == "hello from dotenv"
    assert env["DEFAULTED"] == "fallback"
    assert env["EMPTYDEF"] == ""
    assert env["SHELL_VALUE"] == "from shell"
    assert env["LITERAL"] == "$HOME"
    compose.wait_for(
        lambda: "hello from dotenv" in compose.run("logs", "app").stdout, what="the greeting"
    )
    # --env-file replaces .env
    compose.write("other.env", "GREETING=other\nCOUNT=1\nSHELLWINS=x\n")
    compose.run("--env-file", "other.env", "up", "-d", "--remove-orphans")
    assert compose.names() == [f"{p}-app-1"]
    assert _env(compose, f"{p}-app-1")["GREETING"] == "other"


PROFILES = """
services:
  app:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
  debug:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    profiles: [debug]
  tools:
    image: busybox
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    profiles: [tools, debug]
"""


def test_profiles(compose):
    compose.write("compose.yaml", PROFILES)
    p = compose.name
    compose.run("up", "-d")
    assert compose.names() == [f"{p}-app-1"]
    compose.run("--profile", "tools", "up", "-d")
    assert compose.names() == [f"{p}-app-1", f"{p}-tools-1"]
    compose.run("up", "-d", env={"COMPOSE_PROFILES": "debug"})
    assert compose.names() == [f"{p}-app-1", f"{p}-debug-1", f"{p}-tools-1"]
    assert compose.run("config", "--services").stdout.split() == ["app"]
    assert compose.run("config", "--profiles").stdout.split() == ["debug", "tools"]
    # down without the profile still removes the profiled services' containers
    compose.run("down")
    assert compose.names() == []


def test_several_files_merged(compose):
    compose.write(
        "compose.yaml",
        """
        services:
          app:
            image: busybox
            command: ["sleep", "600"]
            stop_signal: SIGKILL
            environment:
              FROM_BASE: base
              OVERRIDDEN: base
            labels:
              base: "yes"
        """,
    )
    compose.write(
        "extra.yaml",
        """
        services:
          app:
            command: ["sleep", "700"]
            environment:
              OVERRIDDEN: extra
            labels:
              extra: "yes"
          sidecar:
            image: busybox
            command: ["sleep", "600"]
            stop_signal: SIGKILL
        """,
    )
    p = compose.name
    compose.run("-f", "compose.yaml", "-f", "extra.yaml", "up", "-d")
    assert compose.names() == [f"{p}-app-1", f"{p}-sidecar-1"]
    info = compose.inspect(f"{p}-app-1")
    assert info["Config"]["Cmd"] == ["sleep", "700"]
    env = _env(compose, f"{p}-app-1")
    assert env["FROM_BASE"] == "base" and env["OVERRIDDEN"] == "extra"
    labels = info["Config"]["Labels"]
    assert labels["base"] == "yes" and labels["extra"] == "yes"
    files = labels["com.docker.compose.project.config_files"].split(",")
    assert [f.rsplit("/", 1)[1] for f in files] == ["compose.yaml", "extra.yaml"]


def test_config_prints_the_normalised_model(compose):
    compose.write(".env", "PORT=8080\n")
    compose.write(
        "compose.yaml",
        """
        version: "3.8"
        services:
          web:
            image: busybox
            ports: ["127.0.0.1:${PORT}:80"]
            volumes: ["./html:/www:ro", "data:/data"]
            healthcheck:
              test: wget -q -O- http://localhost/
              interval: 90s
        volumes:
          data:
        """,
    )
    out = compose.run("config").stdout
    doc = yaml.safe_load(out)
    assert doc["name"] == compose.name
    web = doc["services"]["web"]
    assert web["ports"] == [
        {"target": 80, "published": "8080", "host_ip": "127.0.0.1", "protocol": "tcp",
         "mode": "ingress"}
    ]  # fmt: skip
    assert web["volumes"][0]["type"] == "bind"
    assert web["volumes"][0]["source"] == compose.dir + "/html"
    assert web["volumes"][0]["read_only"] is True
    assert web["volumes"][1] == {"type": "volume", "target": "/data", "source": "data"}
    assert web["healthcheck"]["test"] == ["CMD-SHELL", "wget -q -O- http://localhost/"]
    assert web["healthcheck"]["interval"] == "1m30s"
    assert doc["volumes"]["data"]["name"] == f"{compose.name}_data"
    assert doc["networks"]["default"]["name"] == f"{compose.name}_default"
    as_json = json.loads(compose.run("config", "--format", "json").stdout)
    assert as_json["services"]["web"]["ports"] == web["ports"]
    assert compose.run("config", "-q").stdout == ""
    assert compose.names() == [] and compose.networks() == [] and compose.volumes() == []


BAD = {
    "yaml": (
        "services:\n  web:\n    image: busybox\n   command: [oops\n",
        ["compose.yaml", "line 4"],
    ),
    "schema": (
        "services:\n  web:\n    image: busybox\n    ports: 80\n",
        ["compose.yaml", "services.web.ports"],
    ),
    "unknown-dependency": (
        "services:\n  web:\n    image: busybox\n    depends_on: [nothere]\n",
        [
            "compose.yaml",
            "services.web.depends_on",
            'service "web" depends on undefined service "nothere"',
        ],
    ),
    "cycle": (
        "services:\n  a:\n    image: busybox\n    depends_on: [b]\n"
        "  b:\n    image: busybox\n    depends_on: [a]\n",
        ["compose.yaml", "services.a.depends_on", "dependency cycle detected: a -> b -> a"],
    ),
    "required-variable": (
        "services:\n  web:\n    image: busybox\n    environment:\n"
        "      TOKEN: ${TOKEN:?the token is required}\n",
        ["compose.yaml", "services.web.environment.TOKEN", "the token is required"],
    ),
    "unsupported-field": (
        "services:\n  web:\n    image: busybox\n    pid: host\n",
        ["compose.yaml", "services.web.pid"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_fail_clearly_and_create_nothing(compose, case):
    text, expected = BAD[case]
    compose.write("compose.yaml", text)
    r = compose.run("up", "-d", check=False)
    assert r.returncode != 0
    for fragment in expected:
        assert fragment in r.stderr, (case, r.stderr)
    assert "Traceback" not in r.stderr
    assert compose.names() == [] and compose.networks() == [] and compose.volumes() == []
    r = compose.run("config", check=False)
    assert r.returncode != 0 and expected[-1] in r.stderr


def test_project_directory_and_default_file_lookup(compose):
    compose.write("conf/compose.yaml", """
        services:
          app:
            image: busybox
            command: ["sleep", "600"]
            stop_signal: SIGKILL
            env_file: [vars.env]
            volumes: ["./data:/data"]
        """)  # fmt: skip
    compose.write("work/vars.env", "WHERE=work\n")
    compose.write("work/.env", "IGNORED=1\n")
    p = compose.name
    compose.run("-f", "conf/compose.yaml", "--project-directory", "work", "up", "-d")
    info = compose.inspect(f"{p}-app-1")
    assert "WHERE=work" in info["Config"]["Env"]
    assert info["Config"]["Labels"]["com.docker.compose.project.working_dir"] == (
        compose.dir + "/work"
    )
    assert info["HostConfig"]["Binds"][0].startswith(compose.dir + "/work/data:/data")
    # without -f, compose.yaml is looked up in the current directory and its parents
    import os

    sub = os.path.join(compose.dir, "conf", "deeper")
    os.makedirs(sub)
    r = compose.run("config", cwd=sub, check=False)
    assert r.returncode != 0 and "conf/vars.env not found" in r.stderr  # relative to conf/
    compose.write("conf/vars.env", "WHERE=conf\n")
    out = compose.run("config", cwd=sub).stdout
    assert "WHERE: conf" in out and f"source: {compose.dir}/conf/data" in out
