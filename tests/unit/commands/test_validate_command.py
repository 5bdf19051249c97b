"""`issue-platform validate FILE|-` on the sample payloads: ok and the normalised payload, or each problem (issue 3)."""
from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

from streams.core.rejection import Reason

FIXTURES = Path(__file__).parents[2] / "fixtures"
VALID = sorted(FIXTURES.glob("*.json"))
INVALID = sorted((FIXTURES / "invalid").glob("*.json"))
CLI = str(Path(sys.executable).with_name("issue-platform"))


def validate(source: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run([CLI, "validate", source], input=stdin, capture_output=True, timeout=60)
    return subprocess.CompletedProcess(completed.args, completed.returncode,
                                       completed.stdout.decode(), completed.stderr.decode())


@pytest.fixture(scope="module")
def results() -> dict[Path, subprocess.CompletedProcess[str]]:
    """Every fixture validated once; each run starts a Python process, so they run side by side."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip([*VALID, *INVALID], pool.map(lambda path: validate(str(path)), [*VALID, *INVALID])))


def reason_of(path: Path) -> str:
    return path.name.split("-", 1)[0]  # fixtures are named `<reason>-<what>.json`


def test_every_reason_a_payload_alone_can_cause_has_an_invalid_fixture() -> None:
    needs_state = {Reason.EVENT_NOT_FOUND, Reason.TYPE_MISMATCH, Reason.GROUP_NOT_FOUND}  # spec §7.2
    assert {reason_of(path) for path in INVALID} == {str(reason) for reason in Reason} - needs_state


@pytest.mark.parametrize("path", VALID, ids=lambda path: path.stem)
def test_valid_payload_prints_ok_and_the_normalised_payload(
    path: Path, results: dict[Path, subprocess.CompletedProcess[str]]
) -> None:
    result = results[path]
    assert result.returncode == 0, result.stdout + result.stderr
    first, _, rest = result.stdout.partition("\n")
    assert first == "ok"
    normalised = orjson.loads(rest)
    # Normalised, not echoed: fingerprints are md5 hashes and ids 32 lowercase hex (spec §1.2.1, §0.6).
    assert all(len(part) == 32 for part in normalised["fingerprint"])
    assert normalised["project_id"] == orjson.loads(path.read_bytes())["project_id"]


@pytest.mark.parametrize("path", INVALID, ids=lambda path: path.stem)
def test_invalid_payload_prints_its_reason_and_exits_1(
    path: Path, results: dict[Path, subprocess.CompletedProcess[str]]
) -> None:
    result = results[path]
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(line.split("\t")[0] == reason_of(path) for line in lines)
    assert all(len(line.split("\t")) == 3 and line.split("\t")[2] for line in lines)


def test_every_invalid_field_is_reported_on_its_own_line_with_its_path(
    results: dict[Path, subprocess.CompletedProcess[str]]
) -> None:
    result = results[FIXTURES / "invalid" / "invalid_field-string-project-id-empty-fingerprint-naive-time.json"]
    fields = [line.split("\t")[1] for line in result.stdout.splitlines()]
    assert fields == ["project_id", "fingerprint[1]", "detection_time"]


def test_payload_from_stdin_is_validated_like_a_file() -> None:
    result = validate("-", stdin=(FIXTURES / "invalid" / "invalid_json-truncated.json").read_bytes())
    assert result.returncode == 1
    assert result.stdout.startswith("invalid_json\t-\tnot UTF-8 JSON")


def test_event_id_only_occurrence_is_ok_with_a_note_that_the_event_must_be_stored() -> None:
    result = validate(str(FIXTURES / "occurrence-by-event-id.json"))
    assert result.returncode == 0 and result.stdout.startswith("ok\n")
    assert "event_not_found" in result.stderr


def test_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    result = validate(str(tmp_path / "missing.json"))
    assert result.returncode == 2
    assert "missing.json" in result.stderr and "Traceback" not in result.stderr
