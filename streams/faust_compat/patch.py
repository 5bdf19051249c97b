"""One replaced attribute of a Faust or aiokafka class, with the original it replaces."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Patch:
    """`owner.name` becomes `replacement` when installed; `original` is what the class held at import.

    The original is kept so tests/unit/faust_compat can pin its source: an upgrade that changes it fails
    there, and whoever upgrades re-checks the workaround against the new code.
    """

    owner: type
    name: str
    replacement: Callable[..., Any]
    original: Callable[..., Any]

    @property
    def qualified_name(self) -> str:
        return f"{self.owner.__module__}.{self.owner.__qualname__}.{self.name}"

    def install(self) -> None:
        setattr(self.owner, self.name, self.replacement)

    def is_installed(self) -> bool:
        return self.owner.__dict__.get(self.name) is self.replacement
