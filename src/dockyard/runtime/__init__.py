"""The OCI runtime: enact a bundle's config.json (namespaces, rootfs, cgroups, process).

`Runtime` is the library the engine calls; `dockyard-runtime` (cli.py) gives it runc's
command line; `spec` generates Docker's config.json.
"""

from dockyard.runtime.runtime import DEFAULT_ROOT, Runtime, wait_status

__all__ = ["DEFAULT_ROOT", "Runtime", "wait_status"]
