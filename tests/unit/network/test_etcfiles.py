"""/etc/hosts, /etc/hostname and /etc/resolv.conf contents as Docker writes them."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidParameter
from dockyard.network import etcfiles

HOST = "# host\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0\n"


def test_hosts_file():
    text = etcfiles.hosts_content(
        "abc123", ["172.17.0.2"], ["db:10.0.0.9", "gw:host-gateway", "v6=[::1]"], "172.17.0.1"
    )
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert lines[1] == "::1\tlocalhost ip6-localhost ip6-loopback"
    assert "10.0.0.9\tdb" in lines and "172.17.0.1\tgw" in lines and "::1\tv6" in lines
    assert lines[-1] == "172.17.0.2\tabc123"
    assert etcfiles.hosts_content("h", ["10.0.0.2"], domainname="example.org").endswith(
        "10.0.0.2\th.example.org h\n"
    )
    with pytest.raises(InvalidParameter):
        etcfiles.hosts_content("h", [], ["nocolon"])
    with pytest.raises(InvalidParameter):
        etcfiles.hosts_content("h", [], ["x:not-an-ip"])


def test_resolv_conf_default_bridge_drops_localhost():
    text = etcfiles.resolv_conf_content(HOST, embedded_dns=False)
    assert "nameserver 127.0.0.53" not in text
    assert "nameserver 10.0.0.2" in text and "search corp.example" in text
    assert "options edns0" in text
    only_local = etcfiles.resolv_conf_content("nameserver 127.0.0.1\n", embedded_dns=False)
    assert "nameserver 8.8.8.8\nnameserver 8.8.4.4" in only_local


def test_resolv_conf_embedded_and_overrides():
    text = etcfiles.resolv_conf_content(
        HOST, embedded_dns=True, dns=["1.1.1.1"], dns_search=["svc.local"], dns_options=["rotate"]
    )
    lines = text.splitlines()
    assert lines[1:] == ["nameserver 127.0.0.11", "search svc.local", "options rotate ndots:0"]
    own = etcfiles.resolv_conf_content(HOST, embedded_dns=False, dns=["9.9.9.9"])
    assert "nameserver 9.9.9.9" in own and "10.0.0.2" not in own
    assert etcfiles.all_nameservers(HOST) == ["127.0.0.53", "10.0.0.2"]


def test_write_files(tmp_path):
    etcfiles.write_hostname(str(tmp_path / "hostname"), "box")
    assert (tmp_path / "hostname").read_text() == "box\n"
    etcfiles.write_hosts(str(tmp_path / "hosts"), hostname="box", addresses=["10.1.1.2"])
    assert (tmp_path / "hosts").read_text().endswith("10.1.1.2\tbox\n")
