"""Charts as PNG bytes, drawn with matplotlib's Agg backend (no display, no network).

Each function takes plain Python series and returns a `Chart`: its title, the PNG and the
series it drew (so the report can print them as a table next to the picture and tests can
check what was plotted).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.figure import Figure  # noqa: E402

_COLORS = {
    "FORWARDED": "#2ca02c",
    "DROPPED": "#d62728",
    "REDIRECTED": "#1f77b4",
    "AUDIT": "#ff7f0e",
    "ERROR": "#8c564b",
    "TRACED": "#7f7f7f",
    "TRANSLATED": "#9467bd",
}


@dataclass(frozen=True)
class Chart:
    """A drawn chart: `series` maps a series name to its (x, y) points."""

    name: str
    title: str
    png: bytes
    series: dict[str, list[tuple[object, float]]]


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _empty(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#777")
    ax.set_xticks([])
    ax.set_yticks([])


def time_series(
    name: str, title: str, series: dict[str, list[tuple[datetime, float]]], ylabel: str
) -> Chart:
    """Lines over time, one per series (e.g. flows per verdict per hour)."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for label, points in sorted(series.items()):
        points = sorted(points)
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker="o",
            markersize=3,
            label=label,
            color=_COLORS.get(label),
        )
    if series:
        ax.legend(loc="upper left", fontsize=8)
        ax.set_ylabel(ylabel)
        fig.autofmt_xdate()
    else:
        _empty(ax)
    ax.set_title(title)
    return Chart(name, title, _png(fig), series)


def bars(
    name: str,
    title: str,
    values: Sequence[tuple[str, float]],
    xlabel: str,
    color: str = "#1f77b4",
) -> Chart:
    """Horizontal bars, largest on top (e.g. drops by reason, top talkers)."""
    values = list(values)
    fig, ax = plt.subplots(figsize=(9, 0.8 + 0.35 * max(len(values), 2)))
    if values:
        labels = [v[0] for v in reversed(values)]
        ax.barh(labels, [v[1] for v in reversed(values)], color=color)
        ax.set_xlabel(xlabel)
        ax.tick_params(axis="y", labelsize=8)
    else:
        _empty(ax)
    ax.set_title(title)
    return Chart(name, title, _png(fig), {xlabel: list(values)})


def grouped_bars(
    name: str, title: str, series: dict[str, list[tuple[str, float]]], ylabel: str
) -> Chart:
    """Bars per category, one colour per series (e.g. latency p50/p95/p99 per destination)."""
    categories = list(dict.fromkeys(c for points in series.values() for c, _ in points))
    fig, ax = plt.subplots(figsize=(9, 3.8))
    if categories:
        width = 0.8 / max(len(series), 1)
        for i, (label, points) in enumerate(series.items()):
            lookup = dict(points)
            xs = [j + i * width for j in range(len(categories))]
            ax.bar(xs, [lookup.get(c, 0.0) for c in categories], width=width, label=label)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(categories))])
        ax.set_xticklabels(categories, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    else:
        _empty(ax)
    ax.set_title(title)
    return Chart(name, title, _png(fig), series)


def service_map(name: str, title: str, edges: Sequence[tuple[str, str, float, str]]) -> Chart:
    """A directed graph of (source, destination, flows, verdict) edges on a circle; edge width
    grows with the flow count, red edges carry drops."""
    nodes = list(dict.fromkeys(n for s, d, _, _ in edges for n in (s, d)))
    fig, ax = plt.subplots(figsize=(9, 9))
    if nodes:
        angle = {n: 2 * math.pi * i / len(nodes) for i, n in enumerate(nodes)}
        pos = {n: (math.cos(a), math.sin(a)) for n, a in angle.items()}
        heaviest = max(e[2] for e in edges) or 1.0
        for source, dest, flows, verdict in edges:
            (x0, y0), (x1, y1) = pos[source], pos[dest]
            ax.annotate(
                "",
                xy=(x1, y1),
                xytext=(x0, y0),
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": _COLORS.get(verdict, "#555"),
                    "lw": 0.5 + 3.5 * flows / heaviest,
                    "alpha": 0.7,
                    "shrinkA": 8,
                    "shrinkB": 8,
                },
            )
        for node, (x, y) in pos.items():
            ax.plot([x], [y], "o", color="#444", markersize=6)
            ax.text(1.12 * x, 1.12 * y, node, ha="center", va="center", fontsize=7)
        ax.set_xlim(-1.6, 1.6)
        ax.set_ylim(-1.4, 1.4)
        ax.axis("off")
    else:
        _empty(ax)
    ax.set_title(title)
    series = {"edges": [(f"{s} -> {d} ({v})", f) for s, d, f, v in edges]}
    return Chart(name, title, _png(fig), series)
