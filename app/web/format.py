"""Formatting for the pages: category labels, waiting times, confidences, links from platform data."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

CATEGORY_LABELS = {
    "complaint": "Complaint",
    "question": "Question",
    "suggestion": "Suggestion",
    "other": "Other",
    "unsorted": "To sort",
}


def waited(seconds: float) -> str:
    """A waiting time in plain words: "< 1 min", "42 min", "3 h 12 min", "2 d 4 h"."""
    minutes = int(max(0.0, seconds) // 60)
    if minutes < 1:
        return "< 1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def confidence_text(confidence: float | None, threshold: float) -> tuple[str, str]:
    """(percentage, plain word) for a prediction's confidence."""
    if confidence is None:
        return "–", "no prediction"
    word = (
        "sure"
        if confidence >= max(threshold + 0.25, 0.85)
        else "fairly sure"
        if confidence >= threshold
        else "unsure"
    )
    return f"{round(confidence * 100)} %", word


def safe_url(value: Any) -> str | None:
    """A link from platform data, only if it is http(s); anything else (javascript:, data:) is dropped."""
    if not isinstance(value, str) or len(value) > 2000:
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return value.strip()
