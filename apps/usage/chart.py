"""A small bar chart of daily values, drawn on the server as SVG (no script: the CSP)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

WIDTH = 600
HEIGHT = 120
LABEL_ROOM = 18  # below the bars, for the first and last day


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: date
    value: int


@dataclass(frozen=True)
class Chart:
    title: str
    bars: list[Bar]
    peak: int
    total: int
    width: int = WIDTH
    height: int = HEIGHT + LABEL_ROOM
    baseline: int = HEIGHT

    @property
    def first_day(self) -> date | None:
        return self.bars[0].day if self.bars else None

    @property
    def last_day(self) -> date | None:
        return self.bars[-1].day if self.bars else None


def bar_chart(*, title: str, days: list[date], values: list[int]) -> Chart:
    """Return the geometry of one bar per day, scaled to the largest value."""
    peak = max(values, default=0)
    slot = WIDTH / max(1, len(values))
    bars = []
    for index, (day, value) in enumerate(zip(days, values, strict=True)):
        height = 0.0 if not peak else max(1.0, (HEIGHT - 4) * value / peak) if value else 0.0
        bars.append(
            Bar(
                x=round(index * slot + 1, 2),
                y=round(HEIGHT - height, 2),
                width=round(max(1.0, slot - 2), 2),
                height=round(height, 2),
                day=day,
                value=value,
            )
        )
    return Chart(title=title, bars=bars, peak=peak, total=sum(values))
