"""Intake in a child process of its own: the web process verifies and answers, the child
classifies, drafts and commits.

Python runs one thread at a time per process. Under a burst, verifying and answering HTTP costs
about as much CPU as classifying and storing, so doing both in one interpreter halves the rate.
`IntakeClient` has the same `start/stop/submit` as `Intake`; it hands each authentic delivery to
the child over a socketpair and resolves the request when the child reports the commit. The child
runs the two stages of `Intake` (one classifier call and one commit per batch) on its own core.

    web process                                  intake child (spawned by the web process)
    verify, parse (refuse 4xx) ── frames ─▶      read what has arrived, parse again (pure),
                                                 prepare (classify, draft), write, COMMIT
    answer 200 / 503           ◀── results ──    [[id, "ok", stored, duplicates, ignored], ...]

Frames are a 4-byte big-endian length and a payload: the delivery's metadata as JSON, a NUL, the
raw body. If the child dies, every waiting request is answered 503 (the platform retries) and a
new child is started. The child exits when the web process closes the socket (or dies).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import socket
import struct
from typing import Any

import orjson

from app.config import Settings
from app.intake import DatabaseUnavailable, Delivery, IngestResult

log = logging.getLogger("relais.intake")
LENGTH = struct.Struct(">I")
BACKLOG_BYTES = 4 * 1024 * 1024  # unsent frames beyond this: the request waits for the child (back-pressure)


def _frame(payload: bytes) -> bytes:
    return LENGTH.pack(len(payload)) + payload


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = LENGTH.unpack(await reader.readexactly(LENGTH.size))
    return await reader.readexactly(size)


class IntakeClient:
    """`Intake`'s interface, with the work done in a child process."""

    def __init__(self, settings: Settings, adapter_context: Any):
        self.settings = settings
        self.adapter_context = adapter_context
        self._pending: dict[int, asyncio.Future[IngestResult]] = {}
        self._next_id = 0
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._process: Any = None
        self._stopping = False
        self._ready = asyncio.Event()
        self._respawn_task: asyncio.Task[None] | None = None
        # frames written once per turn of the event loop: one system call for every delivery
        # that arrived in that turn, instead of one each
        self._outgoing: list[bytes] = []
        self._outgoing_bytes = 0

    async def start(self) -> None:
        await self._spawn()

    async def _spawn(self) -> None:
        parent, child = socket.socketpair()
        ctx = multiprocessing.get_context("spawn")
        self._process = ctx.Process(
            target=child_main,
            args=(self.settings, self.adapter_context, child),
            name="relais-intake",
            daemon=True,
        )
        self._process.start()
        child.close()
        reader, self._writer = await asyncio.open_connection(sock=parent)
        # the child says "ready" once its database and model are loaded
        hello = await _read_frame(reader)
        if hello != b"ready":
            raise RuntimeError(f"intake process failed to start: {hello[:200]!r}")
        self._reader_task = asyncio.create_task(self._read_results(reader), name="relais-intake-results")
        self._ready.set()

    async def _read_results(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                for ident, status, stored, duplicates, ignored in orjson.loads(await _read_frame(reader)):
                    fut = self._pending.pop(ident, None)
                    if fut is None or fut.done():
                        continue
                    if status == "ok":
                        fut.set_result(IngestResult(stored=stored, duplicates=duplicates, ignored=ignored))
                    else:
                        fut.set_exception(DatabaseUnavailable(status))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        # the child is gone: nothing it held was acknowledged, so every platform will retry
        self._ready.clear()
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(DatabaseUnavailable("intake process exited"))
        if not self._stopping:
            log.error("intake process exited (code %s); starting a new one", self._process.exitcode)
            self._respawn_task = asyncio.get_running_loop().create_task(self._respawn())

    async def _respawn(self) -> None:
        delay = 0.5
        while not self._stopping:
            await asyncio.sleep(delay)
            try:
                await self._spawn()
                return
            except Exception:  # keep answering 503 and keep trying: the platforms retry meanwhile
                log.exception("intake process failed to start; retrying in %.0f s", delay)
                delay = min(delay * 2, 30.0)

    async def submit(self, delivery: Delivery) -> IngestResult:
        """Return once the child has committed the delivery; DatabaseUnavailable if it cannot."""
        # back-pressure: while the child is behind by more than BACKLOG_BYTES (frames in the
        # socket's buffer or waiting for the end of this loop turn), the request waits with its
        # body instead of adding a copy of it to the pile
        while self._writer is not None and self._backlog() > BACKLOG_BYTES and self._ready.is_set():
            self._flush()
            await self._writer.drain()
        if not self._ready.is_set() or self._writer is None:
            raise DatabaseUnavailable("intake process not running")
        self._next_id += 1
        ident = self._next_id
        fut: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._pending[ident] = fut
        meta = orjson.dumps(
            [ident, delivery.platform, delivery.digest, delivery.delivery_id, delivery.headers]
        )
        frame = _frame(meta + b"\0" + delivery.body)
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append(frame)
        self._outgoing_bytes += len(frame)
        return await fut

    def _backlog(self) -> int:
        """Bytes handed to the child that it has not read yet (beyond the kernel's buffer)."""
        assert self._writer is not None
        return self._writer.transport.get_write_buffer_size() + self._outgoing_bytes

    def _flush(self) -> None:
        frames, self._outgoing, self._outgoing_bytes = self._outgoing, [], 0
        if not frames or self._writer is None or self._writer.is_closing() or self._stopping:
            return  # the child is gone or told to finish: waiting requests are answered 503
        self._writer.write(b"".join(frames))

    async def stop(self) -> None:
        self._stopping = True
        if self._respawn_task is not None:
            self._respawn_task.cancel()
        if self._writer is not None:
            # half-close: the child commits what it holds, answers, then closes its side
            with contextlib.suppress(Exception):
                self._writer.write_eof()
        if self._reader_task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader_task, 15)
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._process is not None:
            await asyncio.to_thread(self._process.join, 15)
            if self._process.is_alive():
                self._process.kill()


def child_main(settings: Settings, adapter_context: Any, sock: socket.socket) -> None:
    """Entry point of the intake process: read what has arrived, prepare, commit, answer, repeat.

    One thread does the work: while it prepares and commits one batch, the next deliveries wait in
    the socket, so under load the batches grow by themselves (which is what makes group commit
    pay). A second thread committing while the first prepares the next batch was tried and
    measured slower: the two fight for the interpreter (GIL) between every SQLite call, and with
    32 connections under wrk it gave 2,683 req/s against 3,610-3,789 for this loop
    (bench/ingest_throughput.py, quiet machine). Only the WAL checkpoints run beside it, in
    SQLite's C code (`db.WalCheckpointer`).

    Two such processes per web process, taking turns to write (an flock beside the SQLite file),
    were measured slower too: 3,453-4,000 req/s against 4,271-4,880 for one, alternating runs on a
    quiet machine. Each got half the deliveries, so batches halved, and what every batch costs
    whatever its size (about 0.9 ms of CPU: the classifier call, BEGIN/COMMIT and the WAL pages
    every commit rewrites) doubled per delivery.
    """
    import gc
    import select

    from app import db
    from app.drafts.service import Drafter
    from app.intake import Intake
    from app.triage import ModelHolder
    from app.webhooks.router import PARSERS

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # the web process decides when this one ends (it closes the socket); a Ctrl-C or SIGTERM sent
    # to the whole process group must not kill it before the deliveries it holds are committed
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # named in ps/top (Linux); "python" elsewhere
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as comm:
        comm.write("relais-intake")
    # this process writes nearly everything under a burst: it checkpoints beside its commits
    engine = db.make_engine(settings, autocheckpoint=not settings.is_sqlite)
    checkpointer = db.WalCheckpointer(settings).start() if settings.is_sqlite else None
    holder = ModelHolder(settings.models_dir, settings.confidence_threshold)
    holder.start_polling(settings.model_reload_interval_s)
    intake = Intake(
        db.make_sessionmaker(engine),
        holder,
        Drafter(settings),
        read_factory=db.make_sessionmaker(engine, readonly=True),
    )
    sock.setblocking(True)

    def send(payload: bytes) -> None:
        sock.sendall(_frame(payload))

    def commit(idents: list[int], deliveries: list[Delivery], prepared: Any) -> None:
        if isinstance(prepared, BaseException):
            outcomes: list[Any] = [DatabaseUnavailable(f"error: {prepared.__class__.__name__}")] * len(idents)
        else:
            try:
                outcomes = intake.commit(deliveries, prepared)
            except Exception as e:  # a bug: answered 503, the platform retries; logged
                log.exception("intake commit failed")
                outcomes = [e] * len(idents)
        answers = []
        for ident, r in zip(idents, outcomes, strict=True):
            if isinstance(r, BaseException):
                reason = (
                    str(r)[:200] if isinstance(r, DatabaseUnavailable) else f"error: {r.__class__.__name__}"
                )
                answers.append([ident, reason or "unavailable", 0, 0, 0])
            else:
                answers.append([ident, "ok", r.stored, r.duplicates, r.ignored])
        send(orjson.dumps(answers))

    gc.freeze()  # the model and the libraries stay for the process's life: see app.main
    send(b"ready")
    buffer = bytearray()

    def frames() -> list[bytes]:
        out, view = [], 0
        while len(buffer) - view >= LENGTH.size:
            (size,) = LENGTH.unpack_from(buffer, view)
            if len(buffer) - view - LENGTH.size < size:
                break
            out.append(bytes(buffer[view + LENGTH.size : view + LENGTH.size + size]))
            view += LENGTH.size + size
        del buffer[:view]
        return out

    try:
        while True:
            # block for the first delivery, then take whatever else has already arrived: no waiting,
            # the batch is what piled up while the previous one was being prepared and committed
            batch: list[bytes] = []
            while not batch or (
                len(batch) < settings.ingest_batch_max and select.select([sock], [], [], 0)[0]
            ):
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise EOFError
                buffer.extend(chunk)
                batch += frames()
            idents, deliveries = [], []
            for payload in batch:
                meta, _, body = payload.partition(b"\0")
                ident, platform, digest, delivery_id, headers = orjson.loads(meta)
                # adapters are pure: parsing again here is cheaper than shipping objects across
                parsed = PARSERS[platform](headers, orjson.loads(body), adapter_context)
                idents.append(ident)
                deliveries.append(Delivery(platform, digest, delivery_id, headers, body, parsed))
            try:
                prepared: Any = intake.prepare(deliveries)
            except Exception as e:
                log.exception("preparing an intake batch failed")
                prepared = e
            commit(idents, deliveries, prepared)
    except (EOFError, ConnectionError):
        pass  # the web process closed the socket or died
    finally:
        if checkpointer is not None:
            checkpointer.stop()
        holder.stop()
        engine.dispose()
        sock.close()
