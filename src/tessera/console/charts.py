"""A small inline-SVG bar chart of logins per day, drawn on the server (no script, no library).

Pure: it takes the event times and `now`, and returns markup whose only variable parts are
numbers and dates, so there is nothing to escape.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tessera.clock import as_utc

WIDTH = 560
HEIGHT = 140
PADDING_LEFT = 28
PADDING_BOTTOM = 22


@dataclass(frozen=True, slots=True)
class DailyCounts:
    days: list[date]
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)


def daily_counts(times: Iterable[datetime], *, now: datetime, days: int = 30) -> DailyCounts:
    """Count events per UTC day over the last `days` days, oldest first, empty days included."""
    today = as_utc(now).astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    per_day = Counter(as_utc(t).astimezone(UTC).date() for t in times)
    span = [first + timedelta(days=i) for i in range(days)]
    return DailyCounts(days=span, counts=[per_day.get(day, 0) for day in span])


def bar_chart_svg(data: DailyCounts, *, title: str) -> str:
    """An accessible SVG (role="img", <title>, <desc>) with one bar per day."""
    peak = max(data.counts, default=0) or 1
    plot_w = WIDTH - PADDING_LEFT - 4
    plot_h = HEIGHT - PADDING_BOTTOM - 8
    slot = plot_w / max(len(data.counts), 1)
    bars = []
    for index, (day, count) in enumerate(zip(data.days, data.counts, strict=True)):
        height = round(plot_h * count / peak, 1)
        x = round(PADDING_LEFT + index * slot + 1, 1)
        y = round(8 + plot_h - height, 1)
        bars.append(
            f'<rect class="bar" x="{x}" y="{y}" width="{round(max(slot - 2, 1), 1)}" height="{height}">'
            f"<title>{day.isoformat()}: {count}</title></rect>"
        )
    first = data.days[0].isoformat() if data.days else ""
    last = data.days[-1].isoformat() if data.days else ""
    base_y = 8 + plot_h
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="chart-title chart-desc" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-title">{_plain(title)}</title>'
        f'<desc id="chart-desc">{data.total} logins between {first} and {last}; '
        f"busiest day {max(data.counts, default=0)}.</desc>"
        f'<line class="axis" x1="{PADDING_LEFT}" y1="{base_y}" x2="{WIDTH - 4}" y2="{base_y}"/>'
        f'<text class="tick" x="{PADDING_LEFT - 4}" y="14" text-anchor="end">{peak}</text>'
        f'<text class="tick" x="{PADDING_LEFT - 4}" y="{base_y}" text-anchor="end">0</text>'
        + "".join(bars)
        + f'<text class="tick" x="{PADDING_LEFT}" y="{HEIGHT - 6}">{first}</text>'
        f'<text class="tick" x="{WIDTH - 4}" y="{HEIGHT - 6}" text-anchor="end">{last}</text>'
        "</svg>"
    )


def _plain(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
