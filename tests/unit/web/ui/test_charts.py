"""The UI's inline SVG charts (spec §21) drawn from §20.3 stats series."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from streams.web.ui.charts import (
    CHART_HEIGHT,
    SPARK_HEIGHT,
    bar_chart_svg,
    day_label,
    hour_label,
    sparkline_svg,
)

SVG = "{http://www.w3.org/2000/svg}"
START = 1_764_331_200  # 2025-11-28T12:00:00Z


def series(*counts: int, step: int = 3600) -> list[list[int]]:
    return [[START + index * step, count] for index, count in enumerate(counts)]


def parse(markup: str) -> ET.Element:
    # The markup is HTML-embedded SVG without a namespace: give it one so ElementTree parses it as XML.
    return ET.fromstring(str(markup).replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def test_sparkline_has_one_bar_per_nonzero_bucket_scaled_to_the_peak() -> None:
    svg = parse(sparkline_svg(series(0, 2, 0, 4, *[0] * 20)))
    rects = svg.findall(f"{SVG}rect")
    assert len(rects) == 2
    heights = [float(rect.get("height", "0")) for rect in rects]
    assert heights[1] == SPARK_HEIGHT - 1  # the peak fills the height
    assert heights[0] == (SPARK_HEIGHT - 1) / 2
    assert all(float(r.get("y", "0")) + float(r.get("height", "0")) == SPARK_HEIGHT - 1 for r in rects)  # bottom-aligned


def test_sparkline_names_its_total_for_screen_readers() -> None:
    svg = parse(sparkline_svg(series(1, 2, 3)))
    assert svg.get("role") == "img"
    assert svg.get("aria-label") == "6 in the last 24 hours"
    assert svg.find(f"{SVG}title").text == "6 in the last 24 hours"  # type: ignore[union-attr]


def test_an_empty_series_is_a_flat_line_without_bars() -> None:
    svg = parse(sparkline_svg(series(*[0] * 24)))
    assert svg.findall(f"{SVG}rect") == []
    assert svg.find(f"{SVG}line") is not None


def test_a_single_occurrence_beside_a_large_peak_still_shows() -> None:
    rects = parse(sparkline_svg(series(1, 10_000))).findall(f"{SVG}rect")
    assert float(rects[0].get("height", "0")) == 2.0


def test_bar_chart_has_a_tooltip_per_bar_and_its_totals_as_text() -> None:
    markup = bar_chart_svg(series(3, 0, 5), label="last 24 hours", bucket_label=hour_label, caption="Occurrences")
    svg_text = re.search(r"<svg .*</svg>", markup).group(0)  # type: ignore[union-attr]
    rects = parse(svg_text).findall(f"{SVG}rect")
    assert [rect.find(f"{SVG}title").text for rect in rects] == ["12:00 UTC: 3", "14:00 UTC: 5"]  # type: ignore[union-attr]
    assert float(rects[1].get("height", "0")) == CHART_HEIGHT - 2
    assert "Occurrences: 8 · peak 5" in markup
    assert "<span>12:00</span>" in markup and "<span>14:00</span>" in markup  # first and last bucket


def test_daily_labels_name_the_day() -> None:
    markup = bar_chart_svg(series(1, 1, step=86_400), label="last 14 days", bucket_label=day_label, caption="Occ")
    assert "Nov 28 UTC: 1" in markup and "Nov 29 UTC: 1" in markup


def test_labels_are_escaped() -> None:
    markup = bar_chart_svg(series(1), label="x", bucket_label=lambda _: "<b>", caption="a&b")
    assert "<b>" not in markup and "&lt;b&gt;" in markup and "a&amp;b" in markup
