"""The only code that touches Faust's or aiokafka's internals: patches (`apply`) and private reads (`internals`).

`apply()` is called by the entry point (`streams.cli`), never as a side effect of an import.
"""
from __future__ import annotations

from streams.faust_compat.fixes import apply

__all__ = ["apply"]
