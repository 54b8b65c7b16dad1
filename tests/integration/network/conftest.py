"""Fixtures for network tests: a NetworkService on private subnets, a fake DNS upstream.

Every test gets its own bridge names (random suffix) and /24s from 10.201.0.0/16 upwards that
no host route uses; everything is torn down in the fixture's finally, even on failure.
"""

from __future__ import annotations

import ipaddress
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from netsupport import (  # noqa: E402
    FakeUpstream,
    free_subnets,
    make_service,
    remove_leftovers,
    unique_name,
)

from dockyard.network.service import NetworkService  # noqa: E402


@pytest.fixture
def upstream():
    server = FakeUpstream()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def service_factory(tmp_path, upstream):
    """Make NetworkServices on one root (to simulate restarts); all destroyed at the end."""
    (tmp_path / "host-resolv.conf").write_text("nameserver 127.0.0.53\nsearch example.test\n")
    bridge = unique_name("dyt")
    default_subnet, pool = free_subnets(2, 24)
    made: list[NetworkService] = []

    def factory() -> NetworkService:
        svc = make_service(
            tmp_path,
            upstream.address,
            bridge,
            default_subnet,
            str(ipaddress.ip_network(pool).supernet(new_prefix=22)),
        )
        made.append(svc)
        return svc

    try:
        yield factory
    finally:
        for svc in made[:-1]:
            try:
                svc.close()
            except Exception:
                pass
        if made:
            made[-1].destroy_all()
        remove_leftovers(bridge)


@pytest.fixture
def service(service_factory) -> NetworkService:
    return service_factory()
