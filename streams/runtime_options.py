"""Runtime options every worker reads (spec §10.4): release flags and settings that change without restart."""
from __future__ import annotations

from collections.abc import Iterator, Mapping

from streams.agents.options import options_table


class _OptionsView(Mapping[str, object]):
    """Option name → stored value, read live from the GlobalTable `options` (spec §10.4.1).

    Live rather than a snapshot: a change applied from the table's changelog is seen by the very next
    occurrence, on every worker. The table's entries also carry their source offset; callers see only
    the value.
    """

    def __getitem__(self, name: str) -> object:
        entry = options_table.get(name)
        if entry is None:
            raise KeyError(name)
        return entry["value"]

    def __iter__(self) -> Iterator[str]:
        return iter(list(options_table.keys()))

    def __len__(self) -> int:
        return len(options_table)


_VIEW = _OptionsView()


def current_options() -> Mapping[str, object]:
    return _VIEW
