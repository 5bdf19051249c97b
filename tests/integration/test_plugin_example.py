"""The example plugin under examples/acme_detectors, the way a detector author uses it (spec §9.5.5, §10)."""
from __future__ import annotations

import os
import subprocess
import tomllib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.core.fingerprint import group_key, hash_fingerprint
from tests.integration.harness import CLI, Deployment, produce, wait_for

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme_detectors"
MODULE = "acme_detectors.grouptypes"


def with_pythonpath(*paths: Path) -> str:
    # Keep what is there: a checkout may itself be on PYTHONPATH.
    return os.pathsep.join([*map(str, paths), *filter(None, [os.environ.get("PYTHONPATH")])])


def slow_checkout(project_id: int) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {
        "id": uuid.uuid4().hex, "project_id": project_id, "type": 9001,
        "fingerprint": ["acme-slow-checkout:/api/checkout"],
        "issue_title": "Slow Checkout", "subtitle": "POST /api/checkout took 4.2 s (budget 1.5 s)",
        "culprit": "/api/checkout", "level": "warning", "detection_time": now,
        "evidence_display": [{"name": "Duration", "value": "4.2 s", "important": True}],
        "evidence_data": {"duration_ms": 4200, "budget_ms": 1500},
        "event": {"event_id": uuid.uuid4().hex, "project_id": project_id, "platform": "python", "timestamp": now},
    }


def listed_row(stdout: str, type_id: int) -> list[str]:
    return next(line.split() for line in stdout.splitlines() if line.startswith(f"{type_id} "))


def install_example(target: Path) -> None:
    """What `pip install examples/acme_detectors` leaves on the path, without touching this environment:
    the package's dist-info, with the entry points its pyproject.toml declares, beside its source."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    dist_info = target / f"acme_detectors-{project['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\n"
                                        f"Version: {project['version']}\n")
    entry_points = project["entry-points"]["issue_platform.grouptypes"]
    (dist_info / "entry_points.txt").write_text(
        "[issue_platform.grouptypes]\n" + "".join(f"{name} = {module}\n" for name, module in entry_points.items())
    )


async def test_installed_plugin_type_flagged_ga_turns_an_occurrence_into_an_issue(
    deployment: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Installed for every worker and the CLI alike: they must all build the same registry (spec §9.5.5).
    install_example(tmp_path / "site")
    monkeypatch.setenv("PYTHONPATH", with_pythonpath(tmp_path / "site", EXAMPLE))
    assert deployment.cli("migrate").returncode == 0

    listing = deployment.cli("grouptypes")
    assert listing.returncode == 0, listing.stderr
    assert listed_row(listing.stdout, 9001) == [
        "9001", "acme_slow_checkout", "performance", "-", "MEDIUM", "no", "10/1h", "yes", "yes",
    ]
    assert "flag acme-slow-checkout-ingest" in listing.stdout

    deployment.start_worker()
    flagged = deployment.cli("flag", "set", "acme-slow-checkout-ingest", "ga")
    assert flagged.returncode == 0, flagged.stderr
    # Applied by the options agent (its Postgres mirror shows it): from here on the gate is open.
    wait_for(lambda: deployment.query("SELECT value FROM options"), timeout=30, what="the flag applied")
    await produce(deployment.topic("ingest-occurrences"), [(None, orjson.dumps(slow_checkout(1)))])

    key = group_key(1, hash_fingerprint(["acme-slow-checkout:/api/checkout"]))
    rows = wait_for(lambda: deployment.query("SELECT type, title, times_seen FROM groups WHERE group_key = %s",
                                             (key,)), timeout=90, what="the Slow Checkout issue")
    assert rows == [(9001, "Slow Checkout", 1)]
    assert deployment.query("SELECT count(*) FROM drop_counters") == [(0,)]
    listing = deployment.cli("grouptypes")
    assert any(line.split()[1:] == ["acme-slow-checkout-ingest", "ga"] for line in listing.stdout.splitlines())


def test_plugin_module_named_in_the_setting_is_loaded_without_installing_it() -> None:
    env = {**os.environ, "PYTHONPATH": with_pythonpath(EXAMPLE), "ISSUE_PLATFORM_GROUPTYPE_MODULES": MODULE}
    # The registry listing needs no database; without one it says the flag states are unknown.
    env["ISSUE_PLATFORM_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"

    listing = subprocess.run([CLI, "grouptypes"], env=env, capture_output=True, text=True, timeout=60)

    assert listing.returncode == 0, listing.stderr
    assert listed_row(listing.stdout, 9001)[:2] == ["9001", "acme_slow_checkout"]
    assert "flag states unknown" in listing.stderr


@pytest.mark.parametrize(
    ("source", "cause"),
    [
        ("raise RuntimeError('detector config missing')\n", "RuntimeError: detector config missing"),
        (
            "from grouptypes import GroupCategory, GroupType\n"
            "class Clash(GroupType):\n"
            "    type_id = 5001\n    slug = 'acme_clash'\n    description = 'Clash'\n"
            "    category = GroupCategory.REPLAY\n",
            "A group type with the type_id 5001 has already been registered.",
        ),
    ],
)
def test_broken_plugin_stops_the_worker_with_one_line_naming_the_module(
    tmp_path: Path, source: str, cause: str
) -> None:
    (tmp_path / "acme_broken.py").write_text(source)
    env = {**os.environ, "PYTHONPATH": with_pythonpath(tmp_path), "ISSUE_PLATFORM_GROUPTYPE_MODULES": "acme_broken"}

    started = subprocess.run([CLI, "worker"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)

    assert started.returncode != 0
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1, started.stderr
    assert "'acme_broken'" in lines[0] and cause in lines[0]
    assert "Traceback" not in started.stderr
