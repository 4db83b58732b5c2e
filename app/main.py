"""The application factory. Nothing connects at import time: `create_app()` wires things and
`lifespan` opens the database, loads the classifier and starts the background loops."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from app import db, errors, metrics
from app.answers.pages import router as answers_pages
from app.answers.router import router as answers_router
from app.config import Settings
from app.dashboard.pages import router as dashboard_pages
from app.deps import ReadSessionDep
from app.drafts.service import Drafter
from app.drafts.similar import SimilarReplies
from app.intake import Intake
from app.intake.process import ProcessIntake
from app.intake.thread import ThreadIntake
from app.moderation.pages import router as moderation_pages
from app.moderation.router import router as moderation_router
from app.outbox import service as outbox
from app.outbox.pages import router as outbox_pages
from app.platforms.types import AdapterContext
from app.reply_templates.pages import router as reply_template_pages
from app.review.pages import router as review_pages
from app.review.router import router as review_router
from app.review.team_pages import router as team_pages
from app.triage import ModelHolder
from app.web.account import router as account_pages
from app.web.login import router as login_pages
from app.webhooks.router import DELIVERY_ENDPOINTS
from app.webhooks.router import router as webhooks_router

log = logging.getLogger("relais")
STATIC = Path(__file__).resolve().parent / "static"
HEALTH_503: dict[int | str, dict[str, Any]] = {
    503: {"description": "The database is unreachable", "content": {"application/json": {"schema": {}}}}
}


class RelaisApp(FastAPI):
    """FastAPI, with `POST /webhooks/<platform>` sent straight to its route's endpoint, ahead of
    the middleware stack (which answers nothing on that path)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        endpoint = DELIVERY_ENDPOINTS.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None or scope["method"] != "POST":
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        response = await endpoint(Request(scope, receive))
        await response(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the Relais application for `settings` (default: from the environment)."""
    settings = settings or Settings()
    settings.check_production()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.make_engine(settings)
        app.state.engine = engine
        app.state.sessions = db.make_sessionmaker(engine)
        app.state.read_sessions = db.make_sessionmaker(engine, readonly=True)
        holder = ModelHolder(settings.models_dir, settings.confidence_threshold, refine=settings.refine)
        holder.start_polling(settings.model_reload_interval_s)
        app.state.holder = holder
        app.state.drafter = Drafter(settings)
        app.state.similar = SimilarReplies(app.state.drafter.past)
        intake: Intake
        if settings.intake_process:
            intake = ProcessIntake(settings, holder, app.state.read_sessions)
        else:
            intake = ThreadIntake(
                app.state.sessions,
                holder,
                app.state.drafter,
                read_factory=app.state.read_sessions,
                max_batch=settings.ingest_batch_max,
                wait_ms=settings.ingest_batch_wait_ms,
            )
        app.state.intake = intake
        await intake.start()
        drafters = [app.state.drafter]
        source = getattr(intake, "templates", None)
        if source is not None:
            drafters.append(source.drafter)

        def catch_up(session: Any) -> None:
            # a saved answer or an approved reply reaches this process's drafts at once, not at
            # the next periodic read (the next message may follow within the second)
            if session.info.pop("knowledge_changed", False):
                with app.state.read_sessions() as read:
                    for drafter in drafters:
                        drafter.templates(read, fresh=True)

        event.listen(app.state.sessions, "after_commit", catch_up)
        sender = None
        if settings.outbox_in_process:
            from app.outbox.sender import Sender

            sender = Sender(settings, app.state.sessions, name="in-process")
            sender.start_thread()
        app.state.sender = sender
        context = None
        if settings.outbox_in_process:  # the background work of this process, beside the sender
            from app.drafts import context as draft_context

            context = draft_context.started(settings, app.state.sessions, app.state.drafter, holder, intake)
        app.state.context = context
        # Everything loaded so far (model, templates, SQLAlchemy, FastAPI) lives as long as the
        # process: out of the collector's sight, a full collection no longer walks its ~200,000
        # objects (about 100 ms, a latency spike every few thousand requests under load).
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            await app.state.intake.stop()
            if sender is not None:
                sender.stop()
            if context is not None:
                context.stop()
            holder.stop()
            engine.dispose()

    app = RelaisApp(
        title="Relais",
        version="0.1.0",
        lifespan=lifespan,
        description="Inbox assistant for community managers: webhooks in, triage, drafts, "
        "human approval, replies out.",
    )
    app.state.settings = settings
    app.state.adapter_context = AdapterContext.from_settings(settings)

    app.add_exception_handler(errors.RelaisError, errors.handle_relais_error)
    app.add_exception_handler(RequestValidationError, errors.handle_validation_error)
    app.add_exception_handler(HTTPException, errors.handle_http_error)
    app.add_exception_handler(DBAPIError, errors.handle_database_error)
    app.add_exception_handler(PoolTimeout, errors.handle_database_error)

    app.include_router(webhooks_router)
    app.include_router(review_router)
    app.include_router(moderation_router)
    app.include_router(answers_router)
    for pages in (
        login_pages,
        review_pages,
        outbox_pages,
        dashboard_pages,
        reply_template_pages,
        moderation_pages,
        team_pages,
        answers_pages,
        account_pages,
    ):
        app.include_router(pages)
    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", tags=["ops"], responses=HEALTH_503)
    def healthz(request: Request) -> JSONResponse:
        """Database reachable, model version loaded."""
        ok = db.database_ok(request.app.state.engine)
        body = {
            "status": "ok" if ok else "unavailable",
            "database": ok,
            "model_version": request.app.state.holder.version,
            "pid": os.getpid(),
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def prometheus(session: ReadSessionDep) -> Response:
        """Prometheus metrics; the outbox's backlog is counted at each scrape (one indexed count),
        and keeps its last value while the database is unavailable."""
        try:
            metrics.OUTBOX_PENDING.set(outbox.unsettled_count(session))
        except DBAPIError:
            log.warning("metrics: the outbox backlog could not be counted (database unavailable)")
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)

    return app
