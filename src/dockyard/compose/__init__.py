"""Compose: the compose-spec loader and its model (the planner builds on them).

- `load_project(files, ...)` -> `Project` (loader.py): YAML, `.env`, interpolation, merge of
  several files, schema validation, normalisation, profiles, dependency checks.
- `model`: Project, Service and the long forms of their parts; `Project.to_yaml()` is
  `docker compose config`.
- `labels`: Docker Compose's labels and names for containers, networks and volumes.
- `graph`: the order to start and stop services in.
"""

from dockyard.compose.errors import ComposeError
from dockyard.compose.loader import load_project, normalize_project_name
from dockyard.compose.model import Project, Service

__all__ = ["ComposeError", "Project", "Service", "load_project", "normalize_project_name"]
