"""The sender: claims due outbox rows, posts them (replies and moderations) with httpx, records
what happened.

Runs as a thread inside `relais serve` (the embedded default) or as `relais worker` processes
(to scale out on PostgreSQL; several can run at once).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from typing import Any

import httpx
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, sessionmaker

from app import db, metrics
from app.config import Settings
from app.models import OutboxAttempt, utcnow
from app.outbox import service as outbox
from app.platforms import sending as clients
from app.polling import Polling

log = logging.getLogger("relais.outbox")


def _earlier_outcome_unknown(session: Session, item: outbox.Claimed) -> bool:
    """Whether an earlier attempt of this row may have posted unseen: its outcome was `unknown`, or
    it never finished (the sender died during the call)."""
    earlier = exists().where(
        OutboxAttempt.outbox_id == item.id,
        OutboxAttempt.id != item.attempt_id,
        or_(OutboxAttempt.outcome == "unknown", OutboxAttempt.outcome.is_(None)),
    )
    return bool(session.scalar(select(earlier)))


class Sender(Polling):
    """Sends what the outbox holds, `batch` rows a round."""

    name = "relais-sender"
    failure = "outbox pass failed"

    def __init__(
        self, settings: Settings, factory: sessionmaker[Session], *, name: str = "worker", batch: int = 10
    ):
        super().__init__(settings.outbox_poll_interval_s, log)
        self.settings = settings
        self.factory = factory
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{name}"[:64]
        self.batch = batch
        self.client = httpx.Client(
            timeout=httpx.Timeout(settings.send_timeout_s, connect=5.0),
            follow_redirects=False,
            headers={"User-Agent": "Relais/0.1"},
        )

    def stop(self, timeout: float = 10.0) -> None:
        self.join(timeout)
        self.client.close()

    def run_once(self) -> int:
        """Claim and process what is due now; returns how many rows were handled."""
        with db.transaction(self.factory) as session:
            claimed = outbox.claim(
                session, worker=self.worker, lease_s=self.settings.outbox_lease_s, limit=self.batch
            )
        for item in claimed:
            if self.stopping and item is not claimed[0]:
                break  # the lease expires and another worker (or the next start) takes it
            self.process(item)
        return len(claimed)

    def process(self, item: outbox.Claimed) -> None:
        last_unknown = item.previous_status in ("unknown", "sending")
        with db.transaction(self.factory) as session:
            # a moderation is idempotent (or done when already done): it is simply made again
            if item.action == "reply" and (last_unknown or _earlier_outcome_unknown(session, item)):
                # Some attempt may have posted without our seeing it (a timeout, a crash): as long
                # as the row is not terminal, our own reply seen through the webhook means "sent",
                # whatever the attempts since then answered (a 500, a 429).
                echo = outbox.find_echo(session, item)
                if echo is not None:
                    outbox.mark_sent(
                        session, item, worker=self.worker, platform_message_id=echo.external_id, via="echo"
                    )
                    metrics.REPLIES_SENT.labels(item.platform).inc()
                    return
                if last_unknown and item.platform not in outbox.ECHOING | outbox.IDEMPOTENT:
                    log.warning(
                        "reply %s (%s) not resent: the outcome of its last attempt is unknown and %s "
                        "sends no echo (dead letter: verify on the platform, then resend)",
                        item.id,
                        item.channel,
                        item.platform,
                    )
                    outbox.mark_dead(
                        session,
                        item,
                        worker=self.worker,
                        http_status=None,
                        error="outcome of the last attempt unknown and this platform sends no "
                        "echo to check it: verify on the platform, then resend",
                    )
                    return
        out = clients.Outgoing(
            platform=item.platform,
            channel=item.channel,
            account_id=item.account_id,
            target=item.target,
            text=item.text,
            idempotency_key=f"relais-outbox-{item.id}",
            action=item.action,  # type: ignore[arg-type]  # the column holds OUTBOX_ACTIONS
        )
        try:
            result = clients.send(self.client, self.settings, out, now=utcnow())
        except Exception as e:  # a bug in a client must not lose the reply: treat as unknown
            log.exception("sending outbox item %s failed", item.id)
            result = clients.SendResult("unknown", error=f"internal error: {e.__class__.__name__}")
        self.record(item, result)

    def record(self, item: outbox.Claimed, result: clients.SendResult) -> None:
        s = self.settings
        with db.transaction(self.factory) as session:
            if result.outcome == "sent":
                outbox.mark_sent(
                    session,
                    item,
                    worker=self.worker,
                    platform_message_id=result.platform_message_id,
                    http_status=result.http_status,
                    already_done=result.already_done,
                )
                if item.action == "reply":
                    metrics.REPLIES_SENT.labels(item.platform).inc()
                return
            metrics.REPLY_FAILURES.labels(item.platform, result.outcome).inc()
            error = result.error or result.outcome
            what = f"{item.action} {item.id} ({item.channel}, attempt {item.attempt}) not made: {error}"
            if item.action == "reply":
                what = f"reply {item.id} ({item.channel}, attempt {item.attempt}) not sent: {error}"
            if result.outcome == "dead":
                log.warning("%s; given up (dead letter)", what)
                outbox.mark_dead(
                    session,
                    item,
                    worker=self.worker,
                    error=error,
                    http_status=result.http_status,
                    token_expired=result.token_expired,
                )
            elif result.outcome == "unknown" and item.action == "reply":
                log.warning(
                    "%s; the outcome is unknown: looking for its echo in %.0f s", what, s.outbox_echo_wait_s
                )
                outbox.mark_retry(
                    session,
                    item,
                    worker=self.worker,
                    delay_s=s.outbox_echo_wait_s,
                    error=error,
                    http_status=result.http_status,
                    outcome="unknown",
                )
            elif item.attempt >= s.outbox_max_attempts:
                log.warning("%s; given up after %d attempts (dead letter)", what, item.attempt)
                outbox.mark_dead(
                    session,
                    item,
                    worker=self.worker,
                    http_status=result.http_status,
                    error=f"gave up after {item.attempt} attempts: {error}",
                )
            else:
                delay = outbox.backoff(
                    item.attempt,
                    base=s.outbox_backoff_base_s,
                    cap=s.outbox_backoff_max_s,
                    retry_after=result.retry_after_s,
                )
                log.warning("%s; next try in %.0f s", what, delay)
                outbox.mark_retry(
                    session,
                    item,
                    worker=self.worker,
                    delay_s=delay,
                    error=error,
                    http_status=result.http_status,
                )


def run_worker(settings: Settings, *, once: bool = False) -> None:
    """`relais worker`: send the outbox until SIGTERM/SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from app.drafts import context as draft_context
    from app.triage import ModelHolder

    engine = db.make_engine(settings)
    factory = db.make_sessionmaker(engine)
    sender = Sender(settings, factory, name="worker")
    # the refine pass reads new messages again with the promoted model, followed as it changes
    holder = ModelHolder(settings.models_dir, settings.confidence_threshold, refine=settings.refine)
    context = draft_context.ContextPass(settings, factory, holder=holder)
    try:
        if once:
            while sender.run_once() or context.run_once():
                pass
            return
        holder.start_polling(settings.model_reload_interval_s)
        context.start_thread()  # names and languages of new messages, their categories refined

        def stop(*_: Any) -> None:
            sender.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("outbox worker %s started", sender.worker)
        sender.run_forever()
    finally:
        context.stop()
        holder.stop()
        sender.client.close()
        engine.dispose()
