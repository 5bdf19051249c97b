"""CLI commands beside Faust's own (`worker`, …), one module per area (spec §22); registered by streams.worker."""
