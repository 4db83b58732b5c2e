"""SVG chart geometry for the dashboard: numbers only; the template escapes every label."""

from __future__ import annotations

import math
from typing import Any

CHART_W, CHART_H, PAD_L, PAD_B, PAD_T = 640, 200, 44, 28, 10


def nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * exp:
            return float(m * exp)
    return float(10 * exp)


def stacked_bars(labels: list[str], series: list[dict[str, int]], keys: list[str]) -> dict[str, Any]:
    """Geometry of a stacked bar chart: one bar per label, one segment per key."""
    top = nice_max(max((sum(s.values()) for s in series), default=0))
    plot_w, plot_h = CHART_W - PAD_L - 8, CHART_H - PAD_B - PAD_T
    step = plot_w / max(1, len(labels))
    bars = []
    for i, (label, values) in enumerate(zip(labels, series, strict=True)):
        y: float = PAD_T + plot_h
        segments = []
        for k in keys:
            n = values.get(k, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            segments.append(
                {
                    "key": k,
                    "n": n,
                    "x": round(PAD_L + i * step + step * 0.15, 1),
                    "y": round(y, 1),
                    "w": round(step * 0.7, 1),
                    "h": round(h, 1),
                }
            )
        bars.append(
            {
                "label": label,
                "short": label[5:],
                "x": round(PAD_L + i * step + step / 2, 1),
                "total": sum(values.values()),
                "segments": segments,
                "tick": len(labels) <= 8 or (len(labels) - 1 - i) % 2 == 0,
            }
        )
    return {
        "w": CHART_W,
        "h": CHART_H,
        "bars": bars,
        "axis": _axis(top, plot_h),
        "base": PAD_T + plot_h,
        "left": PAD_L,
    }


def lines(labels: list[str], named: dict[str, list[float | None]], *, unit: float = 1.0) -> dict[str, Any]:
    """Geometry of a line chart with gaps where a value is missing; values divided by `unit`."""
    values = [v / unit for vs in named.values() for v in vs if v is not None]
    top = nice_max(max(values, default=0))
    plot_w, plot_h = CHART_W - PAD_L - 8, CHART_H - PAD_B - PAD_T
    step = plot_w / max(1, len(labels))
    out = []
    for name, vs in named.items():
        points = []
        for i, v in enumerate(vs):
            if v is None:
                continue
            points.append(
                {
                    "x": round(PAD_L + i * step + step / 2, 1),
                    "y": round(PAD_T + plot_h - plot_h * (v / unit) / top, 1),
                    "v": v / unit,
                    "label": labels[i],
                }
            )
        out.append({"name": name, "points": points, "path": " ".join(f"{p['x']},{p['y']}" for p in points)})
    ticks = [
        {"x": round(PAD_L + i * step + step / 2, 1), "label": lab[5:]}
        for i, lab in enumerate(labels)
        if len(labels) <= 8 or (len(labels) - 1 - i) % 2 == 0
    ]
    return {
        "w": CHART_W,
        "h": CHART_H,
        "series": out,
        "axis": _axis(top, plot_h),
        "ticks": ticks,
        "base": PAD_T + plot_h,
        "left": PAD_L,
    }


def _axis(top: float, plot_h: float) -> list[dict[str, Any]]:
    return [{"y": round(PAD_T + plot_h - plot_h * f, 1), "label": f"{top * f:g}"} for f in (0, 0.5, 1)]
