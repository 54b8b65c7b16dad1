"""Containers: records and lifecycle below the HTTP API.

`service.ContainerService` is the entry point (create, start, stop, kill, wait, remove,
inspect, list, logs, attach, exec, top, stats, cp, export, diff, pause, update, prune,
reconcile). Each running container has a monitor process (monitor.py) forked from a
preloaded zygote (zygote.py, launcher.py); the service talks to monitors over UNIX sockets
(protocol.py) and follows them with one watcher thread (watcher.py). Nothing is imported here:
the zygote and the CLI import only the modules they need.
"""
