"""One registry mechanism for every pluggable type (envs, policies, heads).

A registry maps a ``type`` name to a config dataclass; the class it builds is imported only when asked for, so
importing a config never pulls in torch models or simulators.
"""

from __future__ import annotations

from collections.abc import Callable

from vst_vla.errors import UserError


class UnknownTypeError(UserError, KeyError):
    """A ``type`` name no one registered; the message lists the registered ones."""

    def __str__(self) -> str:  # KeyError's own str() would quote the whole message
        return str(self.args[0]) if self.args else ""


class Registry[T]:
    """Maps type names to registered objects (usually config dataclasses).

    ``@REGISTRY.register("lift")`` on a class records it; ``REGISTRY.get("lift")`` returns it and names the
    known types when the name is unknown.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} type {name!r} is already registered to {self._entries[name]!r}")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownTypeError(f"unknown {self.kind} type {name!r}; registered types: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
