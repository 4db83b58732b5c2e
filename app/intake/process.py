"""`ProcessIntake`: the intake in a process of its own. The web process verifies, parses,
classifies and drafts; the intake process writes and commits.

Python runs one thread at a time per process, and under a burst answering HTTP costs about as
much CPU as storing: two processes split it (figures: docs/experiments/intake.md).

    web process(es)                                  intake process
    verify, parse (refuse 4xx); once per loop        read what has arrived (from every web
    turn, classify what arrived in one call and      process), classify and draft what the
    draft it (one web process only)   ── frames ──▶  web process did not, write, COMMIT
    answer 200 / 503                  ◀── results ──

With one web process (the default) it spawns its intake child over a socketpair. With `relais
serve --workers N`, the command line starts one `IntakeServer` for all the workers, which connect
to its Unix socket: one process batching for all of them keeps the batches large. Frames:
`app.intake.wire`. If the intake process dies, every waiting request is answered 503 (the
platform retries) and a new one is started (the workers connect again). A web process's socket
is closed by the intake process once it has answered everything that web process sent before
closing its own side; the intake process exits when its parent closes their socket (or dies).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import tempfile
import threading
import time
from itertools import islice
from typing import Any

import orjson

from app.config import Settings
from app.intake import wire
from app.intake.batch import propose
from app.intake.types import DatabaseUnavailable, Delivery, IngestResult, Proposal
from app.triage import ModelHolder

log = logging.getLogger("relais.intake")
BACKLOG_BYTES = 4 * 1024 * 1024  # unsent frames beyond this: the request waits for the child (back-pressure)


def _start_intake_process(
    settings: Settings, listener: socket.socket | None = None
) -> tuple[socket.socket, Any]:
    """Spawn `child_main`; returns the parent's end of their socket, and the process."""
    ours, theirs = socket.socketpair()
    process = multiprocessing.get_context("spawn").Process(
        target=child_main,
        args=(settings, theirs, listener),
        name="relais-intake",
        daemon=True,
    )
    process.start()
    theirs.close()
    return ours, process


class TemplateSource:
    """The enabled reply templates, for the drafts the web process renders: read again every half
    second by a thread of its own, never in the event loop. The intake process's own copy is
    cached for a second (`Drafter.cache_s`), so an edited template reaches the drafts as soon
    as before. Until the first read, or when reading fails for longer than that second, the
    deliveries go without drafts and the intake process renders them itself."""

    def __init__(self, settings: Settings, sessions: Any, interval_s: float = 0.5):
        from app.drafts.service import Drafter

        self.drafter = Drafter(settings)
        self.interval_s = interval_s
        self._sessions = sessions  # the web process's read-only sessions
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relais-templates", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                with self._sessions() as session:
                    self.drafter.templates(session, fresh=True)
            except Exception as e:  # the intake process drafts meanwhile
                log.warning("cannot read the reply templates: %s", e.__class__.__name__)
            if self._stop.wait(self.interval_s):
                return

    def current(self) -> Any:
        return self.drafter.cached_templates()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class ProcessIntake:
    """The `Intake` whose batches are written by an intake process."""

    def __init__(self, settings: Settings, holder: ModelHolder | None = None, read_sessions: Any = None):
        self.settings = settings
        self.read_sessions = read_sessions
        self.last_submit = 0.0
        # The web process's model classifies each loop turn's deliveries in one call, so that
        # the intake process does not (without it, or if it fails, the intake process does).
        # Not with `--workers N`: each worker's turns would hold 1/N of the deliveries and pay the
        # classifier's cost per call N times, where the shared intake process batches them.
        self.holder = None if settings.intake_socket else holder
        # With the model and read sessions, it drafts too, from its own copy of the templates.
        self.templates: TemplateSource | None = None
        self._pending: dict[int, asyncio.Future[IngestResult]] = {}
        self._next_id = 0
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._process: Any = None
        self._stopping = False
        self._ready = asyncio.Event()
        self._respawn_task: asyncio.Task[None] | None = None
        # deliveries sent once per turn of the event loop: one classifier call and one system
        # call for every delivery that arrived in that turn, instead of one each
        self._outgoing: list[tuple[int, Delivery]] = []
        self._outgoing_bytes = 0

    async def start(self) -> None:
        if self.holder is not None and self.read_sessions is not None and self.templates is None:
            self.templates = TemplateSource(self.settings, self.read_sessions)
        await self._spawn()

    async def _spawn(self) -> None:
        if self.settings.intake_socket:
            # `relais serve --workers N` started one intake process for all its workers
            reader, self._writer = await asyncio.open_unix_connection(self.settings.intake_socket)
        else:
            parent, self._process = _start_intake_process(self.settings)
            reader, self._writer = await asyncio.open_connection(sock=parent)
        # the intake process says "ready" once its database and model are loaded
        hello = await wire.read_frame(reader)
        if hello != b"ready":
            raise RuntimeError(f"intake process failed to start: {hello[:200]!r}")
        self._reader_task = asyncio.create_task(self._read_results(reader), name="relais-intake-results")
        self._ready.set()

    async def _read_results(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                for ident, status, stored, duplicates, ignored in orjson.loads(await wire.read_frame(reader)):
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
            if self._process is not None:
                log.error("intake process exited (code %s); starting a new one", self._process.exitcode)
            else:
                log.error("lost the shared intake process; connecting again")
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
        self.last_submit = time.monotonic()
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
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append((ident, delivery))
        self._outgoing_bytes += len(delivery.body)
        return await fut

    def _backlog(self) -> int:
        """Bytes handed to the child that it has not read yet (beyond the kernel's buffer)."""
        assert self._writer is not None
        return self._writer.transport.get_write_buffer_size() + self._outgoing_bytes

    def _flush(self) -> None:
        outgoing, self._outgoing, self._outgoing_bytes = self._outgoing, [], 0
        if not outgoing or self._writer is None or self._writer.is_closing() or self._stopping:
            return  # the child is gone or told to finish: waiting requests are answered 503
        proposals = self._propose([d for _, d in outgoing])
        self._writer.write(
            b"".join(
                wire.encode_delivery(ident, d, p) for (ident, d), p in zip(outgoing, proposals, strict=True)
            )
        )

    def _propose(self, deliveries: list[Delivery]) -> list[list[Proposal] | None]:
        """Per delivery, the triage of each of its messages (all in one classifier call) and
        its draft when the templates are at hand; None where the intake process must do it."""
        if self.holder is None:
            return [None] * len(deliveries)
        texts = [m.text for d in deliveries for m in d.parsed.messages]
        if not texts:
            return [None] * len(deliveries)
        try:
            found = iter(self.holder.classify(texts))
        except Exception:  # the intake process classifies them itself (and logs its own failure)
            log.exception("classifier failed on %d messages; the intake process will classify", len(texts))
            return [None] * len(deliveries)
        source = self.templates
        templates = source.current() if source is not None else None
        out: list[list[Proposal] | None] = []
        for d in deliveries:
            triages = list(islice(found, len(d.parsed.messages)))
            if source is None or templates is None:
                out.append([Proposal(t) for t in triages])
            else:
                out.append(
                    [
                        propose(source.drafter, templates, m, t)
                        for m, t in zip(d.parsed.messages, triages, strict=True)
                    ]
                )
        return out

    async def stop(self) -> None:
        self._stopping = True
        if self.templates is not None:
            self.templates.stop()
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
            await asyncio.to_thread(_end, self._process)


class IntakeServer:
    """One intake process for all the workers of `relais serve --workers N` on this machine.

    Each worker would otherwise feed a child of its own: with two workers under a burst, each
    child got half the deliveries, so half-size batches, and two more processes shared the
    cores. The command line starts this one before the workers: it listens on a Unix socket
    (`RELAIS_INTAKE_SOCKET`, set for the workers) and batches what every worker sends. If it
    dies, it is started again on the same socket (the workers answer 503 meanwhile and connect
    again). `stop()` lets it commit and answer what it holds, then waits for it.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.folder = tempfile.mkdtemp(prefix="relais-intake-")
        self.path = f"{self.folder}/intake.sock"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(256)
        self._control: socket.socket | None = None
        self._process: Any = None
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="relais-intake-watch", daemon=True)

    def start(self) -> IntakeServer:
        self._spawn()
        self._watcher.start()
        return self

    def _spawn(self) -> None:
        control, self._process = _start_intake_process(self.settings, self.listener)
        hello = _read_frame_blocking(control)
        if hello != b"ready":
            raise RuntimeError(f"intake process failed to start: {hello[:200]!r}")
        self._control = control

    def _watch(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            self._process.join()
            if self._stopping.is_set():
                return
            log.error("intake process exited (code %s); starting a new one", self._process.exitcode)
            if self._control is not None:
                self._control.close()
            while not self._stopping.is_set():
                try:
                    self._spawn()
                    delay = 0.5
                    break
                except Exception:
                    log.exception("intake process failed to start; retrying in %.0f s", delay)
                    self._stopping.wait(delay)
                    delay = min(delay * 2, 30.0)

    def stop(self) -> None:
        self._stopping.set()
        if self._control is not None:
            # end of file on its control socket: it answers what it holds, then exits
            with contextlib.suppress(OSError):
                self._control.shutdown(socket.SHUT_WR)
        if self._process is not None:
            _end(self._process)
        self._watcher.join(5)  # it returns once the process has exited
        if self._control is not None:
            self._control.close()
        self.listener.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(self.folder)


def _end(process: Any, timeout_s: float = 15) -> None:
    """Wait for an intake process told to finish (it commits and answers what it holds first);
    kill it past `timeout_s`."""
    process.join(timeout_s)
    if process.is_alive():
        process.kill()
        process.join(5)


def _read_frame_blocking(sock: socket.socket) -> bytes:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise RuntimeError("intake process exited before it was ready")
            data += chunk
        return data

    (size,) = wire.LENGTH.unpack(exactly(wire.LENGTH.size))
    return exactly(size)


class _Peer:
    """The intake process's end of one web process's socket: what it has sent, not yet framed."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()
        self.closing = False  # end of file (or an error): read no more, answer what was read

    def receive(self) -> list[bytes]:
        """The complete frames after one read (the socket is readable)."""
        try:
            chunk = self.sock.recv(1 << 20)
        except OSError:
            chunk = b""
        if not chunk:
            self.closing = True
            return []
        self.buffer.extend(chunk)
        out, view, buffer = [], 0, self.buffer
        while len(buffer) - view >= wire.LENGTH.size:
            (size,) = wire.LENGTH.unpack_from(buffer, view)
            if len(buffer) - view - wire.LENGTH.size < size:
                break
            out.append(bytes(buffer[view + wire.LENGTH.size : view + wire.LENGTH.size + size]))
            view += wire.LENGTH.size + size
        del buffer[:view]
        return out

    def send(self, payload: bytes) -> None:
        try:
            self.sock.sendall(wire.frame(payload))
        except OSError:  # the web process died: it answered its requests 503 already
            self.closing = True

    def finished(self) -> bool:
        """Whether it has said it is done (or gone): read no more from it."""
        return self.closing

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def child_main(settings: Settings, sock: socket.socket, listener: socket.socket | None = None) -> None:
    """Entry point of the intake process: read what has arrived, prepare, commit, answer, repeat.

    One thread does the work: while it prepares and commits one batch, the next deliveries wait
    in the socket, so under load the batches grow by themselves (which is what makes group commit
    pay). Alternatives measured slower are in docs/experiments/intake.md. Only the WAL
    checkpoints run beside it, in SQLite's C code (`db.WalCheckpointer`).

    `sock` is the parent's socket (its deliveries, if any, and the end of this process when it
    closes); `listener`, for an `IntakeServer`, accepts the workers' sockets.
    """
    import gc
    import select

    from app import db
    from app.drafts.service import Drafter
    from app.intake.thread import ThreadIntake

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
    holder = ModelHolder(settings.models_dir, settings.confidence_threshold, refine=settings.refine)
    holder.start_polling(settings.model_reload_interval_s)
    intake = ThreadIntake(
        db.make_sessionmaker(engine),
        holder,
        Drafter(settings),
        read_factory=db.make_sessionmaker(engine, readonly=True),
    )
    sock.setblocking(True)

    def commit(batch: list[tuple[_Peer, int]], deliveries: list[Delivery], prepared: Any) -> None:
        if isinstance(prepared, BaseException):
            outcomes: list[Any] = [DatabaseUnavailable(f"error: {prepared.__class__.__name__}")] * len(batch)
        else:
            try:
                outcomes = intake.commit(deliveries, prepared)
            except Exception as e:  # a bug: answered 503, the platform retries; logged
                log.exception("intake commit failed")
                outcomes = [e] * len(batch)
        answers: dict[_Peer, list[list[Any]]] = {}
        for (peer, ident), r in zip(batch, outcomes, strict=True):
            if isinstance(r, BaseException):
                reason = (
                    str(r)[:200] if isinstance(r, DatabaseUnavailable) else f"error: {r.__class__.__name__}"
                )
                answers.setdefault(peer, []).append([ident, reason or "unavailable", 0, 0, 0])
            else:
                answers.setdefault(peer, []).append([ident, "ok", r.stored, r.duplicates, r.ignored])
        for peer, rows in answers.items():
            peer.send(orjson.dumps(rows))

    gc.freeze()  # the model and the libraries stay for the process's life: see app.main
    parent = _Peer(sock)
    parent.send(b"ready")
    peers = {sock: parent}
    if listener is not None:
        listener.setblocking(True)

    try:
        while not parent.closing:
            # block for the first delivery, then take whatever else has already arrived: no waiting,
            # the batch is what piled up while the previous one was being prepared and committed
            batch: list[tuple[_Peer, bytes]] = []
            wait: float | None = None
            while len(batch) < settings.ingest_batch_max:
                watched = [s for s, p in peers.items() if not p.closing]
                if listener is not None:
                    watched.append(listener)
                readable = select.select(watched, [], [], wait)[0] if watched else []
                if not readable:
                    break
                wait = 0  # after the first arrival, only what is already there
                for r in readable:
                    if r is listener:
                        accepted, _ = listener.accept()
                        accepted.setblocking(True)
                        peers[accepted] = _Peer(accepted)
                        peers[accepted].send(b"ready")
                        continue
                    peer = peers[r]
                    batch += [(peer, payload) for payload in peer.receive()]
                if parent.finished():
                    break
            entries: list[tuple[_Peer, int]] = []
            deliveries: list[Delivery] = []
            proposals: list[list[Proposal] | None] = []
            for peer, payload in batch:
                ident, delivery, proposed = wire.decode_delivery(payload)
                entries.append((peer, ident))
                deliveries.append(delivery)
                proposals.append(proposed)
            if deliveries:
                try:
                    prepared: Any = intake.prepare(deliveries, proposals)
                except Exception as e:
                    log.exception("preparing an intake batch failed")
                    prepared = e
                commit(entries, deliveries, prepared)
            # a web process that has gone (or said it is done) gets no more reads; once answered,
            # its socket is closed, which tells it everything it sent has been answered
            for peer in [p for p in peers.values() if p.closing and p is not parent]:
                del peers[peer.sock]
                peer.close()
    finally:
        if checkpointer is not None:
            checkpointer.stop()
        holder.stop()
        intake.close()
        engine.dispose()
        for peer in peers.values():
            peer.close()
        if listener is not None:
            listener.close()
