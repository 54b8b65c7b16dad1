"""Port spec parsing: Docker's forms and Docker's error messages."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidParameter
from dockyard.network.ports import (
    PortBinding,
    bindings_from_api,
    exposed_bindings,
    parse_port_specs,
)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("80", {"80/tcp": [{"HostIp": "", "HostPort": ""}]}),
        ("5000:5000", {"5000/tcp": [{"HostIp": "", "HostPort": "5000"}]}),
        ("127.0.0.1:8080:80", {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}),
        ("127.0.0.1::80/udp", {"80/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}),
        ("53:53/UDP", {"53/udp": [{"HostIp": "", "HostPort": "53"}]}),
        ("[::1]:8080:80", {"80/tcp": [{"HostIp": "::1", "HostPort": "8080"}]}),
        (
            "8000-8001:80-81",
            {
                "80/tcp": [{"HostIp": "", "HostPort": "8000"}],
                "81/tcp": [{"HostIp": "", "HostPort": "8001"}],
            },
        ),
        ("8000-8010:80", {"80/tcp": [{"HostIp": "", "HostPort": "8000-8010"}]}),
        (
            "7000-7001",
            {
                "7000/tcp": [{"HostIp": "", "HostPort": ""}],
                "7001/tcp": [{"HostIp": "", "HostPort": ""}],
            },
        ),
    ],
)
def test_forms(spec, expected):
    assert parse_port_specs([spec]) == expected


def test_bindings_accumulate():
    assert parse_port_specs(["8080:80", "8081:80"]) == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "", "HostPort": "8081"}]
    }


@pytest.mark.parametrize(
    "spec, message",
    [
        ("x", "invalid containerPort: x"),
        ("8080:x", "invalid containerPort: x"),
        ("y:80", "invalid hostPort: y"),
        ("70000:80", "invalid hostPort: 70000"),
        ("80:99999", "invalid containerPort: 99999"),
        ("1.2.3:80:80", "invalid IP address: 1.2.3"),
        ("80/icmp", "invalid proto: icmp"),
        (
            "8000-8001:80-82",
            "invalid ranges specified for container and host Ports: 80-82 and 8000-8001",
        ),
        ("8080:", "no port specified: 8080:<empty>"),
    ],
)
def test_errors(spec, message):
    with pytest.raises(InvalidParameter) as info:
        parse_port_specs([spec])
    assert str(info.value) == message


def test_api_bindings_and_publish_all():
    bindings = bindings_from_api(
        {
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
            "53/udp": None,
            "90/tcp": [{"HostIp": "", "HostPort": "9000-9005"}],
        }
    )
    assert bindings == [
        PortBinding(80, "tcp", "127.0.0.1", 8080, 8080),
        PortBinding(53, "udp", "", 0, 0),
        PortBinding(90, "tcp", "", 9000, 9005),
    ]
    assert exposed_bindings(["80/tcp", "443/tcp"], bindings[:1]) == [PortBinding(443, "tcp")]
    with pytest.raises(InvalidParameter, match="invalid hostPort: abc"):
        bindings_from_api({"80/tcp": [{"HostPort": "abc"}]})


@given(
    st.one_of(st.just(""), st.sampled_from(["127.0.0.1", "10.0.0.1", "0.0.0.0"])),
    st.one_of(st.just(0), st.integers(1, 65535)),
    st.integers(1, 65535),
    st.sampled_from(["tcp", "udp"]),
)
def test_round_trip(ip, host_port, container_port, proto):
    host = str(host_port) if host_port else ""
    spec = (
        f"{ip}:{host}:{container_port}/{proto}"
        if ip
        else (f"{host}:{container_port}/{proto}" if host else f"{container_port}/{proto}")
    )
    parsed = parse_port_specs([spec])
    assert parsed == {f"{container_port}/{proto}": [{"HostIp": ip, "HostPort": host}]}
    (binding,) = bindings_from_api(parsed)
    assert (binding.container_port, binding.proto, binding.host_ip) == (container_port, proto, ip)
    assert binding.host_port_lo == host_port


def test_cheap_import_without_pyroute2():
    code = (
        "import sys; import dockyard.network.ports; "
        "assert 'pyroute2' not in sys.modules and 'dnslib' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
