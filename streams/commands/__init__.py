"""CLI commands beside Faust's own (`worker`, …), one module per area (spec §22)."""
from streams.commands import basics, dlq, flags, validate  # noqa: F401
