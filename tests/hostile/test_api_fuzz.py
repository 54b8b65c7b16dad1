"""A property-based fuzz of the Engine API (schemathesis, driven by Docker's own v1.47 spec).

Properties, for every generated request to every operation of the spec:
  * no 5xx answer;
  * an answer at all: no request hangs (a per-request timeout);
  * afterwards the daemon answers /_ping and the fixtures made before the fuzz (a running
    container and its image) inspect exactly as before.

The daemon is a real private one (tests/daemon_fixture.py) started inside a network namespace
of its own that has only `lo`: whatever the fuzz asks it to reach (a registry for a pull, push,
search or login, a URL for an import or a build), no packet can leave the host. The test
talks to its unix socket through a requests adapter (docker SDK's), mounted for every http://
URL of the session: the test itself opens no TCP socket either.

Requests are aimed at random names and, a third of the time, at "playground" objects made
before the fuzz (a container, an exec, an image, a volume, a network) that the fuzz may
change or destroy at will, so the handlers behind a found object are fuzzed too. Requests that
name the protected fixtures (their names, or any prefix of their ids, which Docker resolves)
are filtered out: the protected fixtures must come out of the fuzz untouched.

Operations left out (EXCLUDED) or constrained (OVERRIDES, STOPPING) are those that block by
design.

Bounded for `make test`: DOCKYARD_FUZZ_EXAMPLES examples per operation (default 120) and a
wall-time budget DOCKYARD_FUZZ_SECONDS (default 150) shared by all operations; hypothesis is
derandomized (a fixed seed per operation), so a run is reproducible. `make fuzz-long` raises
both. Every failure is collected (not only the first per operation) and reported with the
request as a curl command and the daemon's answer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from support import ENGINE_API_SPEC, is_root, make_busybox_rootfs

SPEC = ENGINE_API_SPEC  # kept in the repository: tests/data/

EXAMPLES = int(os.environ.get("DOCKYARD_FUZZ_EXAMPLES", "120"))
BUDGET = float(os.environ.get("DOCKYARD_FUZZ_SECONDS", "150"))
# Seconds without a byte from the daemon before a request counts as hung.
REQUEST_TIMEOUT = float(os.environ.get("DOCKYARD_FUZZ_REQUEST_TIMEOUT", "30"))

# Operations that block by design (they answer only when something else happens) and so
# cannot have a bounded answer time: left out of the fuzz.
EXCLUDED = {
    # Streams events until `until`, which the fuzz may put in the far future.
    "GET /events": "streams until the client goes away",
    # Hijacks the connection and relays the container's streams until it exits.
    "POST /containers/{id}/attach": "relays the container's streams until it exits",
    "GET /containers/{id}/attach/ws": "a websocket relaying the container's streams",
    # Answers when the container stops: the playground container runs until stopped.
    "POST /containers/{id}/wait": "answers only when the container stops",
}

# Query values forced on some operations, for the same reason: with them on a running
# container, Docker streams for as long as the container lives.
OVERRIDES = {
    "GET /containers/{id}/logs": {"follow": "false"},
    "GET /containers/{id}/stats": {"stream": "false"},
}

# A stop or restart of the playground container with a signal it does not end on (SIGHUP,
# SIGWINCH, ...) waits `t` seconds before the SIGKILL, by design (Docker too): for those two,
# aimed at the playground, a `t` that is not in [0, 10] becomes 5.
STOPPING = ("POST /containers/{id}/stop", "POST /containers/{id}/restart")

# The two 5xx that are the right answer here, as Docker's (both 503, Unavailable):
# a registry or URL the request names cannot be reached (the daemon's network namespace has
# no route anywhere), with Go's wording of the request that failed:
# `Get "https://host/v2/": dial tcp ...`;
UPSTREAM_UNREACHABLE = re.compile(r'(?:Get|Head|Post|Put|Patch|Delete) ".*": ', re.DOTALL)
# and the default address pools are used up (the fuzz creates networks by the hundred).
POOLS_EXHAUSTED = (
    "could not find an available, non-overlapping IPv4 address pool among the defaults to "
    "assign to the network"
)

PROTECTED_IMAGE = "dockyard-fuzz-protected-image:keep"
PROTECTED_CONTAINER = "dockyard-fuzz-protected-container"

PLAY_CONTAINER = "dockyard-fuzz-play"
PLAY_IMAGE = "dockyard-fuzz-play-image:play"
PLAY_VOLUME = "dockyard-fuzz-play-volume"
PLAY_NETWORK = "dockyard-fuzz-play-network"

# A process that ends on SIGTERM (pid 1 ignores it without a handler: a stop would wait
# its whole timeout, which the fuzz may set to days).
TERMINABLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]

pytestmark = [pytest.mark.root]


def _tar_archives():
    """Bytes for application/x-tar bodies (image load, plugin create): real tar archives
    of fuzzed members (names that climb or are absolute, links out, a manifest.json of
    fuzzed JSON), sometimes cut short, and sometimes plain noise."""
    import io
    import tarfile

    from hypothesis import strategies as st

    names = st.one_of(
        st.sampled_from(
            ["manifest.json", "index.json", "oci-layout", "repositories", "blobs/sha256/x"]
        ),
        st.text(min_size=1, max_size=30),
        st.from_regex(r"(\.\./|/)?[a-z]{1,8}(/[a-z.]{1,8}){0,3}", fullmatch=True),
    )
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
        max_leaves=12,
    )
    member = st.tuples(
        names,
        st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE]),
        st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())),
        names,
    )

    @st.composite
    def archive(draw):  # type: ignore[no-untyped-def]
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, kind, data, link in draw(st.lists(member, max_size=6)):
                info = tarfile.TarInfo(name)
                info.type = kind
                if kind == tarfile.REGTYPE:
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                else:
                    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                        info.linkname = link
                    tar.addfile(info)
        blob = buf.getvalue()
        cut = draw(st.one_of(st.just(len(blob)), st.integers(0, len(blob))))
        return blob[:cut]

    return st.one_of(archive(), st.binary(max_size=512))


def _load_schema():
    if not os.path.exists(SPEC):
        return None
    import schemathesis

    schemathesis.openapi.media_type("application/x-tar", _tar_archives())
    return schemathesis.openapi.from_path(SPEC)


SCHEMA = _load_schema()


def _operation_labels() -> list[str]:
    if SCHEMA is None:
        return []
    return [r.ok().label for r in SCHEMA.get_all_operations()]


LABELS = _operation_labels()


@dataclass
class Fixtures:
    sock: str
    protected_ids: list[str]
    protected_names: list[str]
    play: dict[str, str]
    before: dict[str, Any]
    started: float = 0.0
    requests: int = 0
    operations: int = 0
    failures: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


def _session(sock: str):
    import requests
    from docker.transport import UnixHTTPAdapter

    class Refuse(requests.adapters.BaseAdapter):
        def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
            raise AssertionError(f"the fuzz tried to leave the daemon's socket: {request.url}")

        def close(self) -> None:
            pass

    s = requests.Session()
    # Every http:// URL goes to the daemon's socket; https:// is refused outright.
    s.mount("http://", UnixHTTPAdapter("http+unix://" + sock, timeout=REQUEST_TIMEOUT))
    s.mount("https://", Refuse())
    return s


def _api(session, method: str, path: str, **kw):  # type: ignore[no-untyped-def]
    return session.request(method, "http://localhost/v1.47" + path, timeout=60, **kw)


def _snapshot(session, fx_ids: list[str]) -> dict[str, Any]:
    """What must not change: the protected container's and image's inspect."""
    out = {}
    for kind, ident in zip(("containers", "images"), fx_ids, strict=True):
        r = _api(session, "GET", f"/{kind}/{ident}/json")
        out[kind] = (r.status_code, r.json())
    return out


def _netns_daemon_class(base):  # type: ignore[no-untyped-def]
    class NetnsDaemon(base):
        """The daemon in a new network namespace with only `lo` up.

        It gets a private mount namespace too, where the network half of sysfs
        (/sys/class/net, /sys/devices/virtual/net) is that of its network namespace: sysfs
        shows the namespace of whoever mounted it. The rest of /sys (cgroups) stays.
        """

        def argv(self) -> list[str]:
            sysfs = os.path.join(self.root, "sysfs")
            os.makedirs(sysfs, exist_ok=True)
            script = (
                'set -e; ip link set lo up; mount -t sysfs sysfs "$0"; '
                'mount --bind "$0/class/net" /sys/class/net; '
                'mount --bind "$0/devices/virtual/net" /sys/devices/virtual/net; '
                'exec "$@"'
            )
            return [
                "unshare",
                "--net",
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                script,
                sysfs,
                *super().argv(),
            ]

    return NetnsDaemon


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory):
    if SCHEMA is None:
        pytest.skip(f"the Engine API spec is not at {SPEC}")
    if not is_root():
        pytest.skip("needs root (a real daemon)")
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is needed to give the daemon a network namespace of its own")
    from daemon_fixture import Daemon, running_daemon

    rootfs = make_busybox_rootfs(str(tmp_path_factory.mktemp("fuzz-rootfs")))
    with running_daemon(start=False) as d:
        d.__class__ = _netns_daemon_class(Daemon)
        d.start()
        session = _session(d.sock)
        image_id = d.import_busybox(rootfs, tag=PROTECTED_IMAGE)
        if isinstance(image_id, bytes):
            image_id = image_id.decode()
        r = d.docker("run", "-d", "--name", PROTECTED_CONTAINER, PROTECTED_IMAGE, *TERMINABLE)
        assert r.returncode == 0, r.stderr
        container_id = r.stdout.strip()
        # The playground: another image (its own id), a running container with an exec,
        # a volume and a network.
        d.docker("commit", "-c", 'CMD ["true"]', PROTECTED_CONTAINER, PLAY_IMAGE, check=True)
        d.docker("run", "-d", "--name", PLAY_CONTAINER, PLAY_IMAGE, *TERMINABLE, check=True)
        exec_id = _api(
            session, "POST", f"/containers/{PLAY_CONTAINER}/exec", json={"Cmd": ["true"]}
        ).json()["Id"]
        d.docker("volume", "create", PLAY_VOLUME, check=True)
        d.docker("network", "create", PLAY_NETWORK, check=True)
        ids = [container_id, image_id.removeprefix("sha256:")]
        fx = Fixtures(
            sock=d.sock,
            protected_ids=ids,
            protected_names=[PROTECTED_CONTAINER, PROTECTED_IMAGE.split(":")[0]],
            play={
                "containers": PLAY_CONTAINER,
                "exec": exec_id,
                "images": PLAY_IMAGE,
                "volumes": PLAY_VOLUME,
                "networks": PLAY_NETWORK,
            },
            before=_snapshot(session, ids),
        )
        fx.started = time.monotonic()
        yield fx, d, session
        duration = time.monotonic() - fx.started
        summary = (
            f"api fuzz: {fx.requests} requests, {fx.operations} operations, "
            f"{len(fx.failures)} failures, {duration:.0f} s, statuses "
            + json.dumps(dict(sorted(fx.statuses.items())))
        )
        print("\n" + summary, file=sys.stderr)
        report = os.environ.get("DOCKYARD_FUZZ_REPORT")
        if report:
            with open(report, "w") as f:
                f.write(summary + "\n" + "\n\n".join(fx.failures) + "\n")


_HEX = re.compile(r"(?:sha256:)?([0-9a-f]+)")


def _names_protected(value: Any, fx: Fixtures) -> bool:
    """Whether a generated value could resolve to a protected fixture (by name or id prefix)."""
    if isinstance(value, dict):
        return any(_names_protected(k, fx) or _names_protected(v, fx) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_names_protected(v, fx) for v in value)
    if not isinstance(value, str):
        return False
    v = value.strip().lstrip("/").lower()
    if any(n in v for n in fx.protected_names):
        return True
    m = _HEX.fullmatch(v)
    return bool(m) and any(i.startswith(m.group(1)) for i in fx.protected_ids)


def _play_target(label: str, fx: Fixtures) -> dict[str, str] | None:
    """The playground object for an operation's path parameter, if it has one."""
    path = label.split(" ", 1)[1]
    for prefix, kind in (
        ("/containers/{id}", "containers"),
        ("/exec/{id}", "exec"),
        ("/images/{name}", "images"),
        ("/volumes/{name}", "volumes"),
        ("/networks/{id}", "networks"),
    ):
        if path.startswith(prefix):
            return {prefix.rsplit("{", 1)[1].rstrip("}"): fx.play[kind]}
    return None


def _describe(case, response=None, error: BaseException | None = None) -> str:  # type: ignore[no-untyped-def]
    try:
        curl = case.as_curl_command()
    except Exception:  # noqa: BLE001 - a description must not fail
        curl = f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r}"
    if response is not None:
        body = response.content[:600].decode(errors="replace")
        return f"{case.operation.label}: {response.status_code}\n  {curl}\n  -> {body}"
    return f"{case.operation.label}: {error!r}\n  {curl}"


def _docker_503(response) -> bool:  # type: ignore[no-untyped-def]
    try:
        message = response.json().get("message", "")
    except ValueError:
        return False
    return bool(UPSTREAM_UNREACHABLE.match(message)) or message == POOLS_EXHAUSTED


def _intact(fx: Fixtures, session) -> list[str]:  # type: ignore[no-untyped-def]
    problems = []
    try:
        ping = _api(session, "GET", "/_ping")
        if ping.status_code != 200:
            problems.append(f"/_ping answered {ping.status_code}")
        after = _snapshot(session, fx.protected_ids)
    except Exception as e:  # noqa: BLE001 - the daemon may be gone: that is the finding
        return [f"the daemon does not answer: {e!r}"]
    for kind in ("containers", "images"):
        if after[kind] != fx.before[kind]:
            problems.append(
                f"the protected {kind[:-1]} changed:\n  before {fx.before[kind]}\n"
                f"  after  {after[kind]}"
            )
    return problems


BRIDGE_OPTION = "com.docker.network.bridge.name"

# Requests the fuzz found answered with a 5xx or no answer at all, kept as fixed cases (they
# run first, on the same daemon): (method, path, JSON body, the status Docker gives).
FOUND = [
    # ps cannot take a NUL in an argument: was a 500 "embedded null byte".
    ("GET", f"/containers/{PLAY_CONTAINER}/top?ps_args=a%00b", None, 400),
    # A stop timeout past what epoll can wait killed the container's monitor (an
    # OverflowError in its loop) and the request waited 30 s: now a wait without end, and
    # the playground container stops at once on SIGTERM.
    ("POST", f"/containers/{PLAY_CONTAINER}/restart?t=20687503845692936", None, 204),
    ("POST", f"/containers/{PLAY_CONTAINER}/stop?t=2147484", None, 204),
    ("POST", f"/containers/{PLAY_CONTAINER}/start", None, 204),
    # Go's net/url refuses an ASCII control in the address: was a 503 for a lookup.
    ("POST", "/auth", {"serveraddress": "\u0002x"}, 400),
    # Userinfo outside Go's set: was a 500 (aiohttp's latin-1 basic auth); a space in a host.
    ("POST", "/auth", {"serveraddress": "\U000c87d3@x"}, 400),
    ("POST", "/auth", {"serveraddress": "a b"}, 400),
    # A name IDNA cannot encode: was a 500 (UnicodeError from getaddrinfo); now the lookup
    # fails as any unknown name does (503: no registry reachable from the namespace).
    ("POST", "/auth", {"serveraddress": "\u0093"}, 503),
    # NUL bytes where a path or name goes: 500s "embedded null byte" (Python's ValueError
    # where Go's syscalls answer EINVAL), found by the fuzz in load and confirmed by hand:
    # a PAX path record with a NUL (Go's tar reader refuses it: invalid header) ...
    ("POST", "/images/load", {"pax-path": "repositories\0x"}, 400),
    # ... a manifest naming a config file with a NUL, a container archive path, a working
    # directory (create stores it, Docker too; start fails), a bridge name.
    ("POST", "/images/load", {"manifest.json": [{"Config": "a\0b", "Layers": []}]}, 400),
    ("GET", f"/containers/{PLAY_CONTAINER}/archive?path=/tmp%00x", None, 400),
    ("PUT", f"/containers/{PLAY_CONTAINER}/archive?path=/tmp%00x", {"f": "x"}, 400),
    (
        "POST",
        "/containers/create?name=fuzz-nul-cwd",
        {"Image": PLAY_IMAGE, "WorkingDir": "/a\0"},
        201,
    ),
    ("POST", "/containers/fuzz-nul-cwd/start", None, 400),
    ("POST", "/networks/create", {"Name": "n", "Options": {BRIDGE_OPTION: "a\0"}}, 400),
]


def _tar(files: dict[str, Any]) -> bytes:
    """A tar of `files` (JSON values are written as JSON); "pax-path": one empty member
    whose PAX path record is the value."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, value in files.items():
            if name == "pax-path":
                info = tarfile.TarInfo("x")
                info.pax_headers = {"path": value}
                tar.addfile(info)
                continue
            data = value.encode() if isinstance(value, str) else json.dumps(value).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(("method", "path", "body", "status"), FOUND)
def test_found_by_the_fuzz(fuzz, method: str, path: str, body: Any, status: int) -> None:
    fx, daemon, session = fuzz
    kw: dict[str, Any] = {"json": body}
    if body is not None and path.endswith(("/images/load", "/archive?path=/tmp%00x")):
        kw = {"data": _tar(body), "headers": {"Content-Type": "application/x-tar"}}
    # A hang bound, not a timing: each answers in about a second.
    r = session.request(method, "http://localhost/v1.47" + path, timeout=20, **kw)
    assert r.status_code == status, (r.status_code, r.text, daemon.log()[-3000:])
    if status >= 400:
        assert r.json()["message"]
    assert _intact(fx, session) == []


@pytest.mark.parametrize("label", [pytest.param(x, id=x) for x in LABELS])
def test_no_server_error_no_hang(fuzz, label: str) -> None:
    from hypothesis import HealthCheck, Phase, assume, given, settings
    from hypothesis import strategies as st
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import Timeout
    from schemathesis import GenerationMode

    fx, daemon, session = fuzz
    if label in EXCLUDED:
        pytest.skip(f"blocks by design: {EXCLUDED[label]}")
    op = SCHEMA.find_operation_by_label(label)
    strategies = [
        op.as_strategy(GenerationMode.POSITIVE),
        op.as_strategy(GenerationMode.NEGATIVE),
    ]
    play = _play_target(label, fx)
    if play:
        strategies.append(op.as_strategy(GenerationMode.POSITIVE, path_parameters=play))
    runnable = [lb for lb in LABELS if lb not in EXCLUDED]
    # This operation's share of what is left of the budget.
    remaining = BUDGET - (time.monotonic() - fx.started)
    index = runnable.index(label)
    share = max(remaining, 0) / max(len(runnable) - index, 1)
    deadline = time.monotonic() + share
    fx.operations += 1
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=st.one_of(strategies))
    def run(case) -> None:  # type: ignore[no-untyped-def]
        if time.monotonic() > deadline or any(f.startswith("HANG") for f in failures):
            return
        if play is None or case.path_parameters != play:
            assume(not _names_protected(case.path_parameters, fx))
        assume(not _names_protected(case.query, fx))
        assume(not _names_protected(case.body, fx))
        if label in OVERRIDES:
            case.query = {**(case.query or {}), **OVERRIDES[label]}
        if label in STOPPING and case.path_parameters == play:
            t = (case.query or {}).get("t")
            if not (isinstance(t, int) and 0 <= t <= 10):
                case.query = {**(case.query or {}), "t": 5}
        fx.requests += 1
        try:
            response = case.call(
                base_url="http://localhost/v1.47",
                session=session,
                timeout=REQUEST_TIMEOUT,
            )
        except Timeout as e:
            failures.append("HANG " + _describe(case, error=e))
            return
        except RequestsConnectionError as e:
            failures.append("NO ANSWER " + _describe(case, error=e))
            return
        fx.statuses[response.status_code] = fx.statuses.get(response.status_code, 0) + 1
        if response.status_code == 503 and _docker_503(response):
            return
        if response.status_code >= 500:
            found = "5xx " + _describe(case, response)
            if found not in failures:
                failures.append(found)

    run()
    failures.extend(_intact(fx, session))
    fx.failures.extend(failures)
    if failures:
        log = daemon.log()
        tracebacks = "\n".join(
            line for line in log.splitlines()[-400:] if "Error" in line or "Traceback" in line
        )
        pytest.fail(
            f"{len(failures)} failure(s):\n\n" + "\n\n".join(failures[:20]) + "\n\n" + tracebacks
        )


def test_daemon_alive_and_fixtures_intact_after_the_fuzz(fuzz) -> None:
    fx, daemon, session = fuzz
    assert daemon.proc is not None and daemon.proc.poll() is None, daemon.log()
    assert _intact(fx, session) == []
