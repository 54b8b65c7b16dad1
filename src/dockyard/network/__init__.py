"""Container networking: IPAM, the bridge driver, sandboxes, published ports and embedded DNS.

Import the pieces you need directly (`dockyard.network.service.NetworkService`,
`dockyard.network.ports.parse_port_specs`); this package file imports nothing, so the CLI can
parse port specs without loading pyroute2.
"""
