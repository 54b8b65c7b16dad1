"""Compose: the compose-spec loader and its model, the planner and `dockyard compose`.

- `load_project(files, ...)` -> `Project` (loader.py): YAML, `.env`, interpolation, merge of
  several files, schema validation, normalisation, profiles, dependency checks.
- `model`: Project, Service and the long forms of their parts; `Project.to_yaml()` is
  `docker compose config`.
- `labels`: Docker Compose's labels and names for containers, networks and volumes.
- `graph`: the order to start and stop services in.
- `engine`: the Engine API calls compose makes (over dockyard.client's transport only).
- `spec`: a service's container as the create body; `planner`: up/down convergence;
  `progress`, `logs`, `stdio`: output; `cli` + `commands`: the command line;
  `discover`: a project rebuilt from the engine's labels (`-p NAME` without files).
"""

from dockyard.compose.errors import ComposeError

# The loader (PyYAML, jsonschema) loads on first use, so that registering `dockyard compose`
# in the CLI does not slow every other dockyard command down.
_LAZY = {
    "load_project": "dockyard.compose.loader",
    "normalize_project_name": "dockyard.compose.loader",
    "Project": "dockyard.compose.model",
    "Service": "dockyard.compose.model",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ComposeError", "Project", "Service", "load_project", "normalize_project_name"]
