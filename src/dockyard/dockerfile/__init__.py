"""Dockerfiles as a pure library: no engine, no I/O beyond reading a context directory.

- `parser`: Dockerfile text -> `Dockerfile(directives, stages, meta_args)`.
- `shell`: Docker's variable substitution (`expand`, `expand_words`).
- `dockerignore`: .dockerignore patterns and the walk of a build context.

build/ (the builder), images/ (`import --change`) and the client's context writer use it.
"""
