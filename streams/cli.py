"""Console script `issue-platform`: Faust's own CLI (`worker`, …) plus our commands."""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def _datadir_from_argv(argv: Sequence[str]) -> str | None:
    for index, arg in enumerate(argv):
        if arg == "--datadir" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--datadir="):
            return arg.split("=", 1)[1]
    return None


def use_event_loop(name: str) -> None:
    if name == "uvloop":
        import asyncio

        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main() -> None:
    # Faust reads `--datadir` after the app module is imported, but the app is configured at import;
    # hand it over through our own setting so two workers on one host really get separate RocksDB dirs.
    datadir = _datadir_from_argv(sys.argv[1:])
    if datadir:
        os.environ["ISSUE_PLATFORM_DATA_DIR"] = datadir

    from grouptypes import GroupTypeLoadError, GroupTypeRegistrationError
    from streams.faust_compat.versions import UnsupportedFrameworkVersion
    from streams.settings import SettingsError, get_settings
    from streams.trackers.errors import TrackerLoadError, TrackerRegistrationError

    try:
        use_event_loop(get_settings().event_loop)  # before any module creates a loop
        from streams import faust_compat, lifecycle, worker

        faust_compat.apply()
        app = worker.build()
    except (
        SettingsError, GroupTypeLoadError, GroupTypeRegistrationError, TrackerLoadError, TrackerRegistrationError,
        UnsupportedFrameworkVersion,
    ) as error:
        # One clear line naming the setting or the plugin module, not a traceback; a broken plugin aborts
        # the start (spec §9.5.3, §24.1).
        print(f"issue-platform: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if "worker" not in sys.argv[1:]:
        app.main()
        return
    worker.guard(app)
    lifecycle.run_worker(app)


if __name__ == "__main__":
    main()
