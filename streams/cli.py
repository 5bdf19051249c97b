"""Console script `issue-platform`: Faust's own CLI (`worker`, …) plus our commands."""
from __future__ import annotations

import sys


def main() -> None:
    from streams.settings import SettingsError

    try:
        from streams.app import app
    except SettingsError as error:
        # One clear line naming the setting, not a traceback.
        print(f"issue-platform: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    app.main()


if __name__ == "__main__":
    main()
