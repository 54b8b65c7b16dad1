"""Building images from Dockerfiles (Docker's classic builder).

The Dockerfile parser, the variable substitution and .dockerignore live in dockyard.dockerfile.

- `context`: the client's side of the context (the tar the CLI sends).
- `contextdir`: the daemon's side: the context tar unpacked safely, sources hashed.
- `service`: BuildService.build(), the entry point; `executor` runs the stages,
  `commit` records each step's image and asks the `cache`, `runner` runs RUN steps as
  containers, `copier` does COPY and ADD, `buildargs`, `imageconfig` and `state` hold
  Docker's rules for build arguments, configs and history lines.
"""
