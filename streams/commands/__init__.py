"""CLI commands beside Faust's own (`worker`, …), one module per area (spec §22), listed in worker.COMMANDS."""
