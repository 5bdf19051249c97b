"""JSON log lines for log collectors (setting LOG_FORMAT=json): one object per record, on the worker's own handler."""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

# LogRecord attributes every record has: anything else on a record came from `extra=` and is kept.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message"}`, plus `exception` with its traceback and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in entry:
                entry[name] = value
        return orjson.dumps(entry, default=repr).decode()


def logging_config(log_format: str) -> dict[str, Any] | None:
    """Faust's `logging_config` for the format: None keeps Faust's own text lines. Merged into the config
    Faust builds (`merge`), so only the formatters change: level, handler and stream stay the worker's."""
    if log_format != "json":
        return None
    formatter = {"()": f"{__name__}.{JsonFormatter.__name__}"}
    # Faust's handler writes to a terminal with formatter "colored", to a --logfile with "default".
    return {"version": 1, "merge": True, "formatters": {"colored": formatter, "default": formatter}}
