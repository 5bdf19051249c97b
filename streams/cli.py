"""Console script `issue-platform`: Faust's own CLI (`worker`, …) plus our commands."""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path


def _datadir_from_argv(argv: Sequence[str]) -> str | None:
    for index, arg in enumerate(argv):
        if arg == "--datadir" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--datadir="):
            return arg.split("=", 1)[1]
    return None


def main() -> None:
    # Faust reads `--datadir` after the app module is imported, but the app is configured at import;
    # hand it over through our own setting so two workers on one host really get separate RocksDB dirs.
    datadir = _datadir_from_argv(sys.argv[1:])
    if datadir:
        os.environ["ISSUE_PLATFORM_DATA_DIR"] = datadir

    from grouptypes import GroupTypeLoadError, GroupTypeRegistrationError
    from streams.settings import SettingsError
    from streams.unclean_stop import begin_run, end_run

    try:
        from streams.app import app
    except (SettingsError, GroupTypeLoadError, GroupTypeRegistrationError) as error:
        # One clear line naming the setting or the plugin module, not a traceback; a broken plugin aborts
        # the start (spec §9.5.3).
        print(f"issue-platform: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if "worker" not in sys.argv[1:]:
        app.main()
        return
    data_dir = Path(app.conf.datadir)
    begin_run(data_dir, Path(app.conf.tabledir))
    clean = False
    try:
        app.main()
        clean = True
    except SystemExit as exit_:
        clean = exit_.code in (0, None)
        raise
    finally:
        end_run(data_dir, clean=clean)


if __name__ == "__main__":
    main()
