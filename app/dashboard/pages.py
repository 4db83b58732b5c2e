"""The dashboard page (`/dashboard`): the numbers of `app.dashboard.service` drawn as SVG charts."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from app import i18n
from app.dashboard import charts, service
from app.deps import HolderDep, ReadSessionDep, SettingsDep
from app.web.pages import page, page_router
from app.web.security import PageViewer

router = page_router()


@router.get("/dashboard")
def dashboard(
    request: Request, session: ReadSessionDep, settings: SettingsDep, viewer: PageViewer, holder: HolderDep
) -> Response:
    """Messages per day by category, first-response time, backlog, unedited and "to sort" shares."""
    stats = service.dashboard(
        session,
        threshold=settings.confidence_threshold,
        models_dir=settings.models_dir,
        tz=i18n.zone_of(request),  # the viewer's days, not UTC's
    )
    keys = ["complaint", "question", "suggestion", "other", "unsorted"]
    per_day = charts.stacked_bars(stats.days, [stats.per_day[d] for d in stats.days], keys)
    response = charts.lines(
        stats.days,
        {
            "median": [stats.response[d][0] for d in stats.days],
            "p90": [stats.response[d][1] for d in stats.days],
        },
        unit=60.0,
    )
    backlog = charts.stacked_bars(
        stats.days, [{"pending": stats.backlog_by_day[d]} for d in stats.days], ["pending"]
    )
    weeks = [w for w, _ in stats.corrections]
    corrections = charts.stacked_bars(weeks, [c for _, c in stats.corrections], keys[:4])
    return page(
        request,
        "dashboard.html",
        {
            "viewer": viewer,
            "stats": stats,
            "per_day": per_day,
            "response": response,
            "backlog_chart": backlog,
            "corrections": corrections,
            "keys": keys,
            "model": holder.info(),
        },
    )
