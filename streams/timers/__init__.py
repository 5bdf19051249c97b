"""Work done by the passing of time rather than by a message: idle keys, housekeeping (registered in streams.worker)."""
