"""`ThreadIntake`: the intake in the web process, its writes on a thread of their own
(`RELAIS_INTAKE_PROCESS=false`, and the intake process's own core)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app import db, metrics
from app.drafts import service as drafts_service
from app.intake import batch
from app.intake.batch import Prepared, prepare_batch, write_batch
from app.intake.types import DatabaseUnavailable, Delivery, IngestResult, Proposal
from app.triage import ModelHolder

log = logging.getLogger("relais.intake")


class ThreadIntake:
    """Groups concurrent deliveries into one transaction and one classifier call, in two stages
    that overlap: while batch N is written and committed, batch N+1 is classified and drafted."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        holder: ModelHolder,
        drafter: drafts_service.Drafter,
        *,
        read_factory: sessionmaker[Session] | None = None,
        max_batch: int = 256,
        wait_ms: float = 2.0,
    ):
        self.factory = factory
        self.read_factory = read_factory or factory
        self.last_submit = 0.0
        self.holder = holder
        self.drafter = drafter
        self.max_batch = max_batch
        self.wait_s = wait_ms / 1000
        self._queue: asyncio.Queue[tuple[Delivery, asyncio.Future[IngestResult]]] | None = None
        self._writes: (
            asyncio.Queue[tuple[list[tuple[Delivery, asyncio.Future[IngestResult]]], Any]] | None
        ) = None
        self._tasks: list[asyncio.Task[None]] = []
        self._touched: dict[tuple[str, str], float] = {}
        # PostgreSQL: the connection one-statement batches are written on, in autocommit, kept
        # checked out (no pool checkout, ping and reset per batch); dropped after any error
        self._held: Connection | None = None
        self._held_lock = threading.Lock()  # one user at a time; the others take the pool's
        # the writer has a thread of its own: SQLite has one writer, and ordering stays simple
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="relais-intake-write")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._writes = asyncio.Queue(maxsize=2)
        self._tasks = [
            asyncio.create_task(self._collect(), name="relais-intake-collect"),
            asyncio.create_task(self._write(), name="relais-intake-write"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        # anything not committed is answered 503: the platform will deliver it again
        pending: list[asyncio.Future[IngestResult]] = []
        while self._writes is not None and not self._writes.empty():
            pending += [f for _, f in self._writes.get_nowait()[0]]
        while self._queue is not None and not self._queue.empty():
            pending.append(self._queue.get_nowait()[1])
        for fut in pending:
            if not fut.done():
                fut.set_exception(DatabaseUnavailable("shutting down"))
        self._write_thread.shutdown(wait=True)
        self.close()

    async def submit(self, delivery: Delivery) -> IngestResult:
        """Return once the delivery is committed; raise DatabaseUnavailable if it cannot be."""
        self.last_submit = time.monotonic()
        if self._queue is None:
            return await asyncio.to_thread(self._commit_one, delivery)
        fut: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        await self._queue.put((delivery, fut))
        return await fut

    async def _collect(self) -> None:
        assert self._queue is not None and self._writes is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            deadline = loop.time() + self.wait_s
            while len(batch) < self.max_batch:
                if queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(queue.get(), remaining))
                    except TimeoutError:
                        break
                else:
                    batch.append(queue.get_nowait())
            try:
                prepared: Any = await asyncio.to_thread(self.prepare, [d for d, _ in batch])
            except Exception as e:  # never let the loop die
                log.exception("preparing an intake batch failed")
                prepared = e
            await self._writes.put((batch, prepared))

    async def _write(self) -> None:
        assert self._writes is not None
        loop = asyncio.get_running_loop()
        while True:
            batch, prepared = await self._writes.get()
            deliveries = [d for d, _ in batch]
            try:
                if isinstance(prepared, BaseException):
                    raise prepared
                outcomes = await loop.run_in_executor(self._write_thread, self.commit, deliveries, prepared)
            except Exception as e:
                log.exception("intake batch failed")
                outcomes = [DatabaseUnavailable(str(e))] * len(batch)
            for (_, fut), outcome in zip(batch, outcomes, strict=True):
                if fut.done():
                    continue
                if isinstance(outcome, BaseException):
                    fut.set_exception(outcome)
                else:
                    fut.set_result(outcome)

    def prepare(
        self, deliveries: list[Delivery], proposals: list[list[Proposal] | None] | None = None
    ) -> Prepared:
        """Stage one, off the database: classify and draft a batch (see `prepare_batch`)."""
        started = time.perf_counter()
        templates = self.drafter.cached_templates()
        if templates is None:
            session = self.read_factory()
            try:
                templates = self.drafter.templates(session)
            finally:
                session.close()
        prepared = prepare_batch(
            deliveries, holder=self.holder, drafter=self.drafter, templates=templates, proposals=proposals
        )
        metrics.INGEST_PREPARE.observe(time.perf_counter() - started)
        return prepared

    def commit(self, deliveries: list[Delivery], prepared: Prepared) -> list[IngestResult | BaseException]:
        """Stage two: write and commit a prepared batch; one outcome per delivery."""
        started = time.perf_counter()
        try:
            results: list[IngestResult | BaseException] = list(self._store(deliveries, prepared))
        except (OperationalError, DBAPIError) as e:
            if len(deliveries) == 1 or _is_outage(e):
                log.warning(
                    "database unavailable for %d deliveries: %s", len(deliveries), e.__class__.__name__
                )
                return [DatabaseUnavailable(str(e.orig) if hasattr(e, "orig") else str(e))] * len(deliveries)
            results = [self._commit_isolated(d) for d in deliveries]
        except Exception:
            if len(deliveries) == 1:
                raise
            log.exception("batch of %d failed; retrying one by one", len(deliveries))
            results = [self._commit_isolated(d) for d in deliveries]
        metrics.INGEST_BATCH.observe(len(deliveries))
        metrics.INGEST_COMMIT.observe(time.perf_counter() - started)
        return results

    def _commit_isolated(self, delivery: Delivery) -> IngestResult | BaseException:
        try:
            return self._store([delivery], self.prepare([delivery]))[0]
        except (OperationalError, DBAPIError) as e:
            return DatabaseUnavailable(str(e))
        except Exception as e:
            log.exception("delivery %s/%s could not be stored", delivery.platform, delivery.digest[:12])
            return e

    def _commit_one(self, delivery: Delivery) -> IngestResult:
        out = self.commit([delivery], self.prepare([delivery]))[0]
        if isinstance(out, BaseException):
            raise out
        return out

    def _store(self, deliveries: list[Delivery], prepared: Prepared) -> list[IngestResult]:
        engine = self.factory.kw["bind"]
        if batch.one_statement_fits(
            engine.dialect.name, deliveries, self._touched
        ) and self._held_lock.acquire(blocking=False):
            # no BEGIN and COMMIT round trips: the one statement is its own transaction
            try:
                if self._held is None:
                    self._held = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                with Session(bind=self._held) as session:
                    results = write_batch(
                        session, deliveries, prepared, touched=self._touched, one_statement=True
                    )
                    session.commit()
                    return results
            except BaseException:
                self._release_held()  # the next batch checks out a connection anew (pinged)
                raise
            finally:
                self._held_lock.release()
        with db.transaction(self.factory) as session:
            return write_batch(session, deliveries, prepared, touched=self._touched)

    def _release_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            with contextlib.suppress(Exception):
                held.close()

    def close(self) -> None:
        """Give back the connection kept for one-statement batches."""
        with self._held_lock:
            self._release_held()


def _is_outage(e: Exception) -> bool:
    """A connection or lock failure affects every delivery of the batch alike."""
    text = str(getattr(e, "orig", e)).lower()
    return any(
        s in text
        for s in (
            "connection",
            "could not connect",
            "database is locked",
            "server closed",
            "unable to open",
            "disk i/o",
            "terminating",
            "readonly",
        )
    )
