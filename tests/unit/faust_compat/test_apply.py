"""`apply()` installs every patch once, only on the pinned framework versions, and only when called."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer

import streams.faust_compat as faust_compat
from streams.faust_compat import offset_trace, seek, versions
from streams.faust_compat.versions import PINNED_VERSIONS, UnsupportedFrameworkVersion

ROOT = Path(__file__).resolve().parents[3]

# Besides our patches, the offset trace replaces these (with ISSUE_PLATFORM_OFFSET_TRACE=1).
TRACED = ("perform_seek", "_add_gap", "_wait_next_records", "getmany")


@pytest.fixture
def unpatched_afterwards(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test call apply() for real, from the unpatched state (an earlier test in the same process may have
    applied the patches: tests/integration/test_topic_readiness.py does); everything is put back after it."""
    for patch in faust_compat.PATCHES:
        monkeypatch.setattr(patch.owner, patch.name, patch.original)
    for name in TRACED:
        monkeypatch.setattr(Consumer, name, Consumer.__dict__[name])
    monkeypatch.setattr(seek, "_original_perform_seek", seek._original_perform_seek)
    monkeypatch.setattr(faust_compat, "_applied", False)
    monkeypatch.delenv(offset_trace.OFFSET_TRACE_VARIABLE, raising=False)


@pytest.mark.usefixtures("unpatched_afterwards")
def test_apply_installs_every_patch_once() -> None:
    faust_compat.apply()
    faust_compat.apply()
    assert [patch.qualified_name for patch in faust_compat.PATCHES if not patch.is_installed()] == []
    assert Recovery.on_recovery_completed is seek._seek_inputs_before_resuming
    # Applied twice, our perform_seek still calls Faust's, not itself.
    assert seek._original_perform_seek is seek._faust_perform_seek


@pytest.mark.usefixtures("unpatched_afterwards")
def test_with_the_offset_trace_our_perform_seek_calls_the_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(offset_trace.OFFSET_TRACE_VARIABLE, "1")
    faust_compat.apply()
    assert Consumer.perform_seek is seek._perform_seek_unless_sought
    assert seek._original_perform_seek.__module__ == offset_trace.__name__
    assert Consumer._add_gap.__module__ == offset_trace.__name__


@pytest.mark.usefixtures("unpatched_afterwards")
@pytest.mark.parametrize(("package", "found", "shown"), [("faust-streaming", "0.15.4", "found 0.15.4"),
                                                          ("aiokafka", "0.13.0", "found 0.13.0"),
                                                          ("mode-streaming", None, "found none installed")])
def test_apply_refuses_any_other_framework_version(
    monkeypatch: pytest.MonkeyPatch, package: str, found: str | None, shown: str,
) -> None:
    real = versions.installed_version
    monkeypatch.setattr(versions, "installed_version", lambda name: found if name == package else real(name))
    with pytest.raises(UnsupportedFrameworkVersion) as refused:
        faust_compat.apply()
    message = str(refused.value)
    assert isinstance(refused.value, RuntimeError)
    assert "\n" not in message
    assert message.startswith(f"{package}: expected {PINNED_VERSIONS[package]} ")
    assert shown in message
    assert [patch.qualified_name for patch in faust_compat.PATCHES if patch.is_installed()] == []
    assert not faust_compat._applied


def test_the_installed_framework_is_the_pinned_one() -> None:
    versions.check_installed_versions()


def test_pyproject_pins_exactly_the_versions_the_patches_were_checked_against() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = {spec.split("==")[0]: spec.split("==")[1] for spec in dependencies if "==" in spec}
    assert {package: pinned.get(package) for package in PINNED_VERSIONS} == PINNED_VERSIONS


def test_importing_streams_patches_nothing() -> None:
    # A fresh interpreter: this test process may have imported and patched in any order.
    check = textwrap.dedent("""
        import importlib, pkgutil

        import streams
        import streams.worker
        for module in pkgutil.walk_packages(streams.__path__, "streams."):
            importlib.import_module(module.name)

        from faust.transport.consumer import Consumer
        from faust.transport.producer import ProducerBuffer
        from streams.faust_compat import PATCHES

        assert ProducerBuffer.flush.__module__ == "faust.transport.producer", ProducerBuffer.flush
        owners = {patch.owner for patch in PATCHES} | {Consumer}
        ours = [f"{owner.__qualname__}.{name}" for owner in owners for name, value in vars(owner).items()
                if getattr(value, "__module__", "").startswith("streams")]
        assert not ours, ours
    """)
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
