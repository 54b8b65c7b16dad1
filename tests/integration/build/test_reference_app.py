"""Acceptance 1: a Dockerfile of the reference app's shape gives the config Docker's classic
builder gives (expectations from Docker's rules: PATH kept first, ENV appended, WORKDIR
absolute, EXPOSE as "port/tcp", CMD exec form, no Entrypoint, history lines per step)."""

from __future__ import annotations

import re

from buildsupport import build, read_tree

DOCKERFILE = """\
FROM busybox
WORKDIR /code
ENV FLASK_APP=app.py FLASK_RUN_HOST=0.0.0.0
RUN mkdir -p /deps && echo base > /deps/marker
COPY requirements.txt requirements.txt
RUN cat requirements.txt > /deps/installed
EXPOSE 5000
COPY . .
CMD ["flask", "run"]
"""
FILES = {
    "Dockerfile": DOCKERFILE,
    "requirements.txt": "flask\nredis\n",
    "app.py": "print('hello')\n",
    "static/style.css": "body {}\n",
}
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def test_reference_app_config_and_history(engine) -> None:
    result = build(engine, FILES, tags=["composetest-web:latest"])
    assert result.error is None, result.output
    image = engine.images.get("composetest-web")
    assert image.id == result.image_id
    config = image.config["config"]
    assert config["Env"] == [PATH, "FLASK_APP=app.py", "FLASK_RUN_HOST=0.0.0.0"]
    assert config["WorkingDir"] == "/code"
    assert config["ExposedPorts"] == {"5000/tcp": {}}
    assert config["Cmd"] == ["flask", "run"]
    assert config["Entrypoint"] is None
    assert config["User"] == ""
    assert config["Labels"] is None
    assert image.config["os"] == "linux"

    base = len(engine.busybox_history())
    steps = image.config["history"][base:]
    expected = [
        ("/bin/sh -c #(nop) WORKDIR /code", False),
        ("/bin/sh -c #(nop)  ENV FLASK_APP=app.py FLASK_RUN_HOST=0.0.0.0", True),
        ("/bin/sh -c mkdir -p /deps && echo base > /deps/marker", False),
        (r"re:/bin/sh -c #\(nop\) COPY file:[0-9a-f]{64} in requirements.txt $", False),
        ("/bin/sh -c cat requirements.txt > /deps/installed", False),
        ("/bin/sh -c #(nop)  EXPOSE 5000", True),
        (r"re:/bin/sh -c #\(nop\) COPY dir:[0-9a-f]{64} in \. $", False),
        ('/bin/sh -c #(nop)  CMD ["flask" "run"]', True),
    ]
    assert len(steps) == len(expected)
    for (want, empty), got in zip(expected, steps, strict=True):
        if want.startswith("re:"):
            assert re.match(want[3:], got["created_by"]), got
        else:
            assert got["created_by"] == want
        assert bool(got.get("empty_layer")) == empty, got
    assert len(image.diff_ids) == 1 + 5

    history = engine.images.history(image)  # GET /images/{name}/history, newest first
    assert history[0]["Id"] == image.id
    assert history[0]["Tags"] == ["composetest-web:latest"]
    assert history[0]["Size"] == 0  # CMD
    assert history[1]["Size"] > 0  # COPY . .

    tree = read_tree(
        engine,
        image.id,
        [
            "/code/app.py",
            "/code/static/style.css",
            "/code/requirements.txt",
            "/deps/installed",
            "/deps/marker",
            "/code/Dockerfile",
        ],
    )
    assert tree["/code/app.py"].data == b"print('hello')\n"
    assert tree["/code/static/style.css"].data == b"body {}\n"
    assert tree["/deps/installed"].data == b"flask\nredis\n"
    assert tree["/deps/marker"].data == b"base\n"
    assert (tree["/code/app.py"].uid, tree["/code/app.py"].gid) == (0, 0)


def test_run_layer_holds_only_the_changes(engine) -> None:
    result = build(engine, {"Dockerfile": "FROM busybox\nRUN echo x > /tmp/new && rm /etc/group\n"})
    assert result.error is None, result.output
    image = engine.images.get(result.image_id)
    import tarfile

    with engine.images.layer_tar(image.diff_ids[-1]) as f, tarfile.open(fileobj=f) as tar:
        names = sorted(m.name for m in tar)
    assert names == ["etc", "etc/.wh.group", "tmp", "tmp/new"]


def test_output_steps_and_final_messages(engine) -> None:
    result = build(engine, {"Dockerfile": "FROM busybox\nENV A=1\n"}, tags=["out-test"])
    assert result.error is None
    busybox = engine.busybox.removeprefix("sha256:")[:12]
    image = result.image_id.removeprefix("sha256:")[:12]
    streams = [m["stream"] for m in result.messages if "stream" in m]
    assert streams[:2] == ["Step 1/2 : FROM busybox\n", f" ---> {busybox}\n"]
    assert streams[2] == "Step 2/2 : ENV A=1\n"
    assert streams[-2:] == [
        f"Successfully built {image}\n",
        "Successfully tagged out-test:latest\n",
    ]
    assert {"aux": {"ID": result.image_id}} in result.messages


def _layer_names(engine, image_id: str) -> list[str]:
    import tarfile

    image = engine.images.get(image_id)
    with engine.images.layer_tar(image.diff_ids[-1]) as f, tarfile.open(fileobj=f) as tar:
        return sorted(m.name for m in tar)


def test_host_network_run_resolves_like_the_host(engine) -> None:
    df = "FROM busybox\nRUN cat /etc/resolv.conf > /r && wc -l < /proc/net/dev > /n\n"
    result = build(engine, {"Dockerfile": df}, nocache=True)
    assert result.error is None, result.output
    with open("/etc/resolv.conf", "rb") as f:
        host = f.read()
    tree = read_tree(engine, result.image_id, ["/r", "/etc/resolv.conf"])
    assert tree["/r"].data == host
    assert tree["/etc/resolv.conf"] is None  # the mount point is not part of the layer
    assert _layer_names(engine, result.image_id) == ["n", "r"]


def test_network_none_run(engine) -> None:
    df = "FROM busybox\nRUN wc -l < /proc/net/dev > /n\n"
    result = build(engine, {"Dockerfile": df}, networkmode="none", nocache=True)
    assert result.error is None, result.output
    assert read_tree(engine, result.image_id, ["/n"])["/n"].data.strip() == b"3"  # lo only
    assert _layer_names(engine, result.image_id) == ["n"]
