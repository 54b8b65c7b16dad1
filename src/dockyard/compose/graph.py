"""Dependencies between services: checks, cycles and the order to start them in."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dockyard.compose.errors import ComposeError
from dockyard.compose.model import Service


def check_dependencies(
    services: Mapping[str, Service], where: Callable[[str, str], str] | None = None
) -> None:
    """Unknown services in depends_on or links, and cycles, are errors.

    where(service, dependency) names the place of the dependency in the files, e.g.
    `/app/compose.yaml: services.web.depends_on`; the message starts with it.
    """

    def fail(name: str, dep: str, problem: str) -> ComposeError:
        place = where(name, dep) if where else ""
        return ComposeError(f"{place}: {problem}" if place else problem)

    for name in sorted(services):
        for dep in services[name].dependencies():
            if dep not in services:
                raise fail(
                    name,
                    dep,
                    f'service "{name}" depends on undefined service "{dep}": '
                    "invalid compose project",
                )
    cycle = find_cycle(services)
    if cycle:
        raise fail(cycle[0], cycle[1], "dependency cycle detected: " + " -> ".join(cycle))


def find_cycle(services: Mapping[str, Service]) -> list[str] | None:
    """A dependency cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in services[name].dependencies():
            if dep not in services:
                continue
            if state.get(dep) == 1:
                return path[path.index(dep) :] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for name in sorted(services):
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def dependency_order(services: Mapping[str, Service], names: list[str] | None = None) -> list[str]:
    """Service names with every dependency before its dependents (ties in name order).

    With names, only those services and what they need, transitively.
    """
    wanted = set(services) if names is None else _closure(services, names)
    order: list[str] = []
    done: set[str] = set()

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in stack:
            cycle = [*stack[stack.index(name) :], name]
            raise ComposeError("dependency cycle detected: " + " -> ".join(cycle))
        for dep in sorted(services[name].dependencies()):
            if dep in services:
                visit(dep, (*stack, name))
        done.add(name)
        order.append(name)

    for name in sorted(wanted):
        visit(name, ())
    return order


def dependents_order(services: Mapping[str, Service], names: list[str] | None = None) -> list[str]:
    """The order to stop services in: dependents before what they depend on."""
    return list(reversed(dependency_order(services, names)))


def _closure(services: Mapping[str, Service], names: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in services:
            continue
        seen.add(name)
        todo.extend(services[name].dependencies())
    return seen
