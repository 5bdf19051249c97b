"""The exact framework versions our patches and private reads were checked against, and the check itself.

pyproject.toml pins the same versions (tests/unit/faust_compat checks that both say the same). Upgrading
one of them is a deliberate act: change both, then re-check every patch and private read that
tests/unit/faust_compat/test_guard.py reports as changed.
"""
from __future__ import annotations

from importlib import metadata

PINNED_VERSIONS: dict[str, str] = {
    "faust-streaming": "0.15.3",
    "aiokafka": "0.14.0",
    "mode-streaming": "0.7.1",
}


class UnsupportedFrameworkVersion(RuntimeError):
    """An installed framework package is not the version the patches were written for."""

    def __init__(self, package: str, expected: str, found: str | None) -> None:
        self.package = package
        self.expected = expected
        self.found = found
        super().__init__(
            f"{package}: expected {expected} (the version streams.faust_compat patches), found "
            f"{found or 'none installed'}; re-check the patches (tests/unit/faust_compat) before changing the "
            f"pin in pyproject.toml and streams/faust_compat/versions.py"
        )


def installed_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def check_installed_versions() -> None:
    """Raise `UnsupportedFrameworkVersion` for the first package whose installed version is not the pin."""
    for package, expected in PINNED_VERSIONS.items():
        found = installed_version(package)
        if found != expected:
            raise UnsupportedFrameworkVersion(package, expected, found)
