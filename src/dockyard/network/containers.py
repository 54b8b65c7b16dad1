"""ContainerNetworking: the containers service's view of networking, in container records.

The containers service hands over its container record (Docker's container config: `Name`,
`Config` (Hostname, Domainname, ExposedPorts), `HostConfig` (NetworkMode, PortBindings,
PublishAllPorts, Dns, DnsSearch, DnsOptions, ExtraHosts), `NetworkingConfig.EndpointsConfig`,
`HostsPath`, `ResolvConfPath`, `HostnamePath`) at start and stop; this adapter turns it into
NetworkService calls and returns what the record needs: the namespace path for the OCI spec,
`NetworkSettings` for inspect and the `Ports` list of `docker ps`.

Network modes: `bridge`/`default` and user networks (a sandbox with one endpoint per network
of EndpointsConfig; ports are published on the first), `none` (a sandbox with `lo` only),
`host` (no sandbox; recorded as an endpoint of the `host` network), `container:X` (X's
namespace, no endpoint of its own).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from dockyard.errors import Conflict
from dockyard.network.ports import bindings_from_api
from dockyard.network.service import NetworkService


class ContainerNetworking:
    """Set up and tear down a container's networking from its record."""

    def __init__(
        self,
        service: NetworkService,
        *,
        dns: Iterable[str] = (),
        dns_search: Iterable[str] = (),
        dns_options: Iterable[str] = (),
    ) -> None:
        self.service = service
        self._dns = list(dns)
        self._dns_search = list(dns_search)
        self._dns_options = list(dns_options)

    @classmethod
    def from_daemon_config(cls, cfg: Any) -> ContainerNetworking:
        """From the daemon's config: daemon.json `bridge`, `bip`, `default-address-pools`,
        `dns`, `dns-search`, `dns-opts`; state under data-root/network and exec-root/netns."""
        settings = cfg.settings
        bridge = settings.get("bridge") or "dockyard0"
        service = NetworkService(
            os.path.join(cfg.data_root, "network"),
            cfg.exec_root,
            default_bridge_name=bridge,
            default_bridge_subnet=settings.get("bip") or None,
            default_address_pools=settings.get("default-address-pools") or None,
        )
        return cls(
            service,
            dns=settings.get("dns") or (),
            dns_search=settings.get("dns-search") or (),
            dns_options=settings.get("dns-opts") or (),
        )

    # ----- container life ---------------------------------------------------------------

    def setup(self, container_id: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """At start: the namespace, endpoints, ports and /etc files.

        Returns {"netns_path": path or None, "NetworkSettings": ..., "Ports": [...]}.
        """
        host_config = record.get("HostConfig") or {}
        mode = host_config.get("NetworkMode") or "default"
        if mode == "default":
            mode = "bridge"
        name = (record.get("Name") or container_id[:12]).lstrip("/")
        svc = self.service
        if mode == "host":
            svc.connect("host", container_id, name)
            return self._result(container_id, None)
        if mode.startswith("container:"):
            other = mode.split(":", 1)[1]
            path = svc.sandbox_path(other)
            if not path:
                raise Conflict(f"cannot join network namespace of a non running container: {other}")
            return {"netns_path": path, "NetworkSettings": None, "Ports": []}
        path = svc.sandbox_create(container_id)
        try:
            if mode == "none":
                svc.connect("none", container_id, name)
            else:
                self._connect_all(container_id, name, mode, record)
            self._write_etc_files(container_id, record)
        except BaseException:
            svc.sandbox_remove(container_id)
            raise
        return self._result(container_id, path)

    def _connect_all(
        self, container_id: str, name: str, mode: str, record: Mapping[str, Any]
    ) -> None:
        host_config = record.get("HostConfig") or {}
        config = record.get("Config") or {}
        endpoints = (record.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
        networks = [mode, *(n for n in endpoints if n != mode)]
        publish = bindings_from_api(host_config.get("PortBindings") or {})
        exposed = list(config.get("ExposedPorts") or {})
        for i, network in enumerate(networks):
            endpoint = endpoints.get(network) or {}
            ipam = endpoint.get("IPAMConfig") or {}
            self.service.connect(
                network,
                container_id,
                name,
                aliases=endpoint.get("Aliases") or (),
                ipv4_address=ipam.get("IPv4Address") or None,
                publish=publish if i == 0 else (),
                exposed=exposed if i == 0 else (),
                publish_all=bool(host_config.get("PublishAllPorts")) and i == 0,
                mac_address=endpoint.get("MacAddress")
                or (config.get("MacAddress") if i == 0 else None)
                or None,
                hostname=config.get("Hostname") or None,
            )

    def _write_etc_files(
        self, container_id: str, record: Mapping[str, Any], in_place: bool = False
    ) -> None:
        config = record.get("Config") or {}
        host_config = record.get("HostConfig") or {}
        hostname = config.get("Hostname") or container_id[:12]
        if record.get("HostnamePath"):
            self.service.write_hostname(record["HostnamePath"], hostname)
        if record.get("HostsPath"):
            self.service.write_hosts(
                container_id,
                record["HostsPath"],
                hostname,
                domainname=config.get("Domainname") or "",
                extra_hosts=host_config.get("ExtraHosts") or (),
                in_place=in_place,
            )
        if record.get("ResolvConfPath"):
            self.service.write_resolv_conf(
                container_id,
                record["ResolvConfPath"],
                dns=host_config.get("Dns") or self._dns,
                dns_search=host_config.get("DnsSearch") or self._dns_search,
                dns_options=host_config.get("DnsOptions") or self._dns_options,
                in_place=in_place,
            )

    def teardown(self, container_id: str, record: Mapping[str, Any] | None = None) -> None:
        """At stop or removal: endpoints, ports, DNS records, namespace, leases go."""
        self.service.sandbox_remove(container_id)

    # ----- while running: connect / disconnect ------------------------------------------

    def connect(
        self,
        network: str,
        container_id: str,
        record: Mapping[str, Any],
        endpoint_config: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """`docker network connect` of a running container; rewrites hosts and resolv.conf.

        Returns the new {"NetworkSettings", "Ports"} for the record.
        """
        endpoint_config = endpoint_config or {}
        ipam = endpoint_config.get("IPAMConfig") or {}
        name = (record.get("Name") or container_id[:12]).lstrip("/")
        path = self.service.sandbox_path(container_id)
        self.service.connect(
            network,
            container_id,
            name,
            aliases=endpoint_config.get("Aliases") or (),
            ipv4_address=ipam.get("IPv4Address") or None,
            netns_path=path,
            mac_address=endpoint_config.get("MacAddress") or None,
            hostname=(record.get("Config") or {}).get("Hostname") or None,
        )
        self._write_etc_files(container_id, record, in_place=True)
        return self._result(container_id, path)

    def disconnect(
        self, network: str, container_id: str, record: Mapping[str, Any], force: bool = False
    ) -> dict[str, Any]:
        """`docker network disconnect` of a running container."""
        self.service.disconnect(network, container_id, force=force)
        self._write_etc_files(container_id, record, in_place=True)
        return self._result(container_id, self.service.sandbox_path(container_id))

    # ----- views ------------------------------------------------------------------------

    def lookup(self, network: str) -> dict[str, Any]:
        """A network by name, id or id prefix, as `GET /networks/{id}` shows it (NotFound)."""
        return self.service.inspect(network)

    def _result(self, container_id: str, path: str | None) -> dict[str, Any]:
        return {
            "netns_path": path,
            "NetworkSettings": self.service.endpoint_settings(container_id),
            "Ports": self.ps_ports(container_id),
        }

    def ps_ports(self, container_id: str) -> list[dict[str, Any]]:
        """`Ports` of `GET /containers/json`: published ports, then unpublished exposed ones."""
        settings = self.service.endpoint_settings(container_id)
        result: list[dict[str, Any]] = []
        for key, bindings in sorted(settings["Ports"].items()):
            port, _, proto = key.partition("/")
            if not bindings:
                result.append({"PrivatePort": int(port), "Type": proto})
                continue
            for b in bindings:
                result.append(
                    {
                        "IP": b["HostIp"],
                        "PrivatePort": int(port),
                        "PublicPort": int(b["HostPort"]),
                        "Type": proto,
                    }
                )
        return result

    def stats(self, container_id: str) -> dict[str, dict[str, int]] | None:
        """`networks` of `docker stats`; None when the container has no interfaces of its own."""
        return self.service.interface_stats(container_id) or None

    def reconcile(self, live_container_ids: Iterable[str]) -> dict[str, int]:
        """After a daemon restart, with the ids of the containers still running."""
        return self.service.reconcile(live_container_ids)

    def close(self) -> None:
        self.service.close()
