"""capabilities: names, Docker's defaults, and the setters applied in a forked child."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest

from dockyard.errors import InvalidParameter
from dockyard.runtime import capabilities as caps

DOCKER_DEFAULT_MASK = 0x00000000A80425FB  # CapEff of a default `docker run` container

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing capabilities needs root")


def test_numbers_follow_the_kernel():
    assert caps.cap_number("CAP_CHOWN") == 0
    assert caps.cap_number("CAP_NET_ADMIN") == 12
    assert caps.cap_number("CAP_SYS_ADMIN") == 21
    assert caps.cap_number("CAP_CHECKPOINT_RESTORE") == 40
    assert len(caps.ALL_CAPS) == len(set(caps.ALL_CAPS))


def test_unknown_capability_is_invalid_parameter():
    with pytest.raises(InvalidParameter, match='unknown capability: "CAP_FLY"'):
        caps.cap_number("CAP_FLY")


def test_docker_default_mask():
    assert caps.caps_mask(caps.DOCKER_DEFAULT_CAPS) == DOCKER_DEFAULT_MASK
    assert sorted(caps.mask_names(DOCKER_DEFAULT_MASK)) == sorted(caps.DOCKER_DEFAULT_CAPS)


@pytest.mark.parametrize(
    "given, expected",
    [("net_admin", "CAP_NET_ADMIN"), ("CAP_SYS_TIME", "CAP_SYS_TIME"), ("all", "ALL")],
)
def test_normalize_like_docker(given, expected):
    assert caps.normalize(given) == expected


def test_normalize_rejects_unknown():
    with pytest.raises(InvalidParameter, match='unknown capability: "CAP_NOPE"'):
        caps.normalize("nope")


def test_supported_caps_follow_cap_last_cap():
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    assert caps.supported_caps() == caps.ALL_CAPS[: last + 1]


def _status_masks() -> dict[str, int]:
    with open("/proc/self/status") as f:
        return {
            k: int(v, 16) for k, v in (line.split(":\t") for line in f if line.startswith("Cap"))
        }


def in_child(action: Callable[[], None]) -> dict[str, int]:
    """Run `action` in a forked child and return the child's Cap* masks afterwards."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            action()
            os.write(w, json.dumps(_status_masks()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(out)


@needs_root
def test_drop_bounding_and_set_caps():
    def action() -> None:
        caps.drop_bounding(DOCKER_DEFAULT_MASK)
        caps.set_caps(DOCKER_DEFAULT_MASK, DOCKER_DEFAULT_MASK, 0)

    masks = in_child(action)
    assert masks["CapBnd"] == DOCKER_DEFAULT_MASK
    assert masks["CapEff"] == DOCKER_DEFAULT_MASK
    assert masks["CapPrm"] == DOCKER_DEFAULT_MASK
    assert masks["CapInh"] == 0
    assert masks["CapAmb"] == 0


@needs_root
def test_caps_above_32_survive_the_two_words():
    high = caps.caps_mask(["CAP_SYSLOG", "CAP_BPF", "CAP_CHOWN"])

    def action() -> None:
        caps.set_caps(high, high, high)

    masks = in_child(action)
    assert masks["CapEff"] == masks["CapPrm"] == masks["CapInh"] == high


@needs_root
def test_ambient_needs_and_gets_inheritable():
    want = caps.caps_mask(["CAP_NET_BIND_SERVICE", "CAP_KILL"])

    def action() -> None:
        caps.set_caps(DOCKER_DEFAULT_MASK, DOCKER_DEFAULT_MASK, want)
        caps.set_ambient(want)

    masks = in_child(action)
    assert masks["CapAmb"] == want


@needs_root
def test_ambient_outside_inheritable_fails():
    def action() -> None:
        caps.set_caps(DOCKER_DEFAULT_MASK, DOCKER_DEFAULT_MASK, 0)
        try:
            caps.set_ambient(caps.caps_mask(["CAP_KILL"]))
        except OSError:
            return
        raise AssertionError("raising an ambient cap that is not inheritable succeeded")

    assert in_child(action)["CapAmb"] == 0


def test_raising_beyond_permitted_fails():
    def action() -> None:
        caps.set_caps(0, 0, 0)
        try:
            caps.set_caps(1, 1, 0)
        except OSError:
            return
        raise AssertionError("capset raised a capability that was not permitted")

    assert in_child(action)["CapEff"] == 0
