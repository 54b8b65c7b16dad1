"""Building images from Dockerfiles: the parser, substitution and the build context.

- `parser`: Dockerfile text -> `Dockerfile(directives, stages, meta_args)`.
- `shell`: Docker's variable substitution (`expand`, `expand_words`).
- `dockerignore`: .dockerignore patterns and the walk of a build context.
"""
