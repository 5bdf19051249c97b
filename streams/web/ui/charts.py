"""Inline SVG charts of hourly counts for the web UI (spec §21): a row's sparkline and the issue's bar charts.

Pure: counts in, markup out. The pages draw from the same `[[epoch_s, n], …]` series the API shows as an
issue's `stats` (spec §20.3), so a chart and `GET /api/0/issues/{id}/` never disagree.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from markupsafe import Markup, escape

Series = Sequence[Sequence[int]]  # [[epoch_s, n], …], oldest first (spec §20.3 `stats`)

SPARK_WIDTH, SPARK_HEIGHT = 96, 24
CHART_WIDTH, CHART_HEIGHT = 600, 120
_GAP = 0.2  # of each slot, left between bars
_MIN_BAR = 2.0  # a bucket with any count shows: one occurrence on a busy day must not vanish


def _num(value: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros: smaller markup, stable in tests."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def hour_label(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M")


def day_label(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%b %-d")


def _bars(series: Series, width: int, height: int, tooltip: Callable[[int, int], str] | None) -> list[str]:
    """One `<rect>` per non-empty bucket, scaled to the series' own peak, bottom-aligned."""
    peak = max((int(count) for _, count in series), default=0)
    if not series or not peak:
        return []
    slot = width / len(series)
    rects = []
    for index, (epoch, count) in enumerate(series):
        if not count:
            continue
        bar = max(_MIN_BAR, height * int(count) / peak)
        geometry = (f'x="{_num(index * slot + slot * _GAP / 2)}" y="{_num(height - bar)}"'
                    f' width="{_num(slot * (1 - _GAP))}" height="{_num(bar)}"')
        if tooltip is None:
            rects.append(f"<rect {geometry}/>")
        else:
            rects.append(f"<rect {geometry}><title>{escape(tooltip(int(epoch), int(count)))}</title></rect>")
    return rects


def _total(series: Series) -> int:
    return sum(int(count) for _, count in series)


def sparkline_svg(series: Series, *, label: str = "last 24 hours") -> Markup:
    """A row's bar sparkline, one bar per bucket over a base line; its accessible name says the total."""
    title = escape(f"{_total(series)} in the {label}")
    base = SPARK_HEIGHT - 0.5
    parts = [
        (f'<svg class="spark" width="{SPARK_WIDTH}" height="{SPARK_HEIGHT}"'
         f' viewBox="0 0 {SPARK_WIDTH} {SPARK_HEIGHT}" role="img" aria-label="{title}"><title>{title}</title>'),
        f'<line x1="0" y1="{base}" x2="{SPARK_WIDTH}" y2="{base}" class="base"/>',
        *_bars(series, SPARK_WIDTH, SPARK_HEIGHT - 1, None),
        "</svg>",
    ]
    return Markup("".join(parts))


def bar_chart_svg(series: Series, *, label: str, bucket_label: Callable[[int], str], caption: str) -> Markup:
    """An issue's bar chart as a `<figure>`: a bar per bucket with its time and count as a tooltip, then the
    total, the peak and the first and last bucket's times as HTML text.

    The bars stretch to the container's width (`preserveAspectRatio="none"`) while the text stays HTML, so
    the chart fits a phone and a laptop without shrinking its labels.
    """
    peak = max((int(count) for _, count in series), default=0)
    total = _total(series)
    title = escape(f"{caption}: {total} in the {label}, peak {peak}")
    base = CHART_HEIGHT - 0.5
    first = escape(bucket_label(int(series[0][0]))) if series else ""
    last = escape(bucket_label(int(series[-1][0]))) if series else ""
    parts = [
        (f'<figure class="chart"><svg class="bars" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}"'
         f' preserveAspectRatio="none" role="img" aria-label="{title}"><title>{title}</title>'),
        (f'<line x1="0" y1="{base}" x2="{CHART_WIDTH}" y2="{base}" class="base"'
         ' vector-effect="non-scaling-stroke"/>'),
        *_bars(series, CHART_WIDTH, CHART_HEIGHT - 2, lambda epoch, count: f"{bucket_label(epoch)} UTC: {count}"),
        "</svg>",
        (f'<figcaption><span>{first}</span><span class="chart-total">{escape(caption)}: {total}'
         f" · peak {peak}</span><span>{last}</span></figcaption></figure>"),
    ]
    return Markup("".join(parts))
