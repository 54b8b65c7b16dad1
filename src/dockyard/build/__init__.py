"""Building images from Dockerfiles (Docker's classic builder).

- `parser`: Dockerfile text -> `Dockerfile(directives, stages, meta_args)`.
- `shell`: Docker's variable substitution (`expand`, `expand_words`).
- `dockerignore`: .dockerignore patterns and the walk of a build context.
- `context`: the client's side of the context (the tar the CLI sends).
- `contextdir`: the daemon's side: the context tar unpacked safely, sources hashed.
- `service`: BuildService.build(), the entry point; `executor` runs the stages,
  `commit` records each step's image and asks the `cache`, `runner` runs RUN steps as
  containers, `copier` does COPY and ADD, `buildargs`, `imageconfig` and `state` hold
  Docker's rules for build arguments, configs and history lines.
"""
