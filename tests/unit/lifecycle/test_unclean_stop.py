"""A worker's local tables are kept after any stop, and discarded after an unclean one only when asked
(exactly_once, where RocksDB can be ahead of the changelog)."""
from __future__ import annotations

from pathlib import Path

from streams.lifecycle import begin_run, end_run, marker_path


def _tables(data_dir: Path) -> Path:
    tables = data_dir / "v1" / "tables"
    tables.mkdir(parents=True)
    (tables / "groups-0.db").write_text("state")
    return tables


def test_a_first_run_keeps_the_tables_and_marks_itself(tmp_path: Path) -> None:
    tables = _tables(tmp_path)
    assert not begin_run(tmp_path, tables, discard_after_unclean_stop=True)
    assert (tables / "groups-0.db").exists()
    assert marker_path(tmp_path).exists()


def test_after_a_clean_stop_the_next_run_keeps_the_tables(tmp_path: Path) -> None:
    tables = _tables(tmp_path)
    begin_run(tmp_path, tables, discard_after_unclean_stop=True)
    end_run(tmp_path, clean=True)
    assert not marker_path(tmp_path).exists()
    assert not begin_run(tmp_path, tables, discard_after_unclean_stop=True)
    assert (tables / "groups-0.db").exists()


def test_after_a_crash_the_next_run_discards_the_tables(tmp_path: Path) -> None:
    tables = _tables(tmp_path)
    begin_run(tmp_path, tables, discard_after_unclean_stop=True)
    end_run(tmp_path, clean=False)  # or no end_run at all: kill -9
    assert marker_path(tmp_path).exists()
    assert begin_run(tmp_path, tables, discard_after_unclean_stop=True)
    assert not tables.exists()
    assert marker_path(tmp_path).exists()  # the new run is marked in turn


def test_at_least_once_keeps_the_tables_after_a_crash(tmp_path: Path) -> None:
    tables = _tables(tmp_path)
    begin_run(tmp_path, tables, discard_after_unclean_stop=False)
    # no end_run: kill -9
    assert not begin_run(tmp_path, tables, discard_after_unclean_stop=False)
    assert (tables / "groups-0.db").read_text() == "state"
    assert marker_path(tmp_path).exists()


def test_a_missing_data_dir_is_created(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    assert not begin_run(data_dir, data_dir / "v1" / "tables", discard_after_unclean_stop=True)
    assert marker_path(data_dir).exists()
