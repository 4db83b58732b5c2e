"""A pass that polls the database on a thread of its own: the outbox's sender and the drafts'
context pass. Each pass says what one round does (`run_once`, how many rows it handled); the
loop goes again at once while there is work, else waits for the interval or a `wake`. A failed
round (the database may be down) is logged and the loop goes on: what the pass works on stays
in the database for the next round.
"""

from __future__ import annotations

import logging
import threading


class Polling:
    """The loop, its thread and its stop; subclasses define `run_once`."""

    name = "relais-pass"  # the thread's name
    failure = "pass failed"  # logged with the exception when a round fails

    def __init__(self, interval_s: float, log: logging.Logger):
        self.interval_s = interval_s
        self._log = log
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """One round; returns how many rows it handled (0: wait before the next)."""
        raise NotImplementedError

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wake(self) -> None:
        """Go round now rather than at the end of the interval."""
        self._wake.set()

    def request_stop(self) -> None:
        """Finish the current round and leave the loop (safe from a signal handler)."""
        self._stop.set()
        self._wake.set()

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                done = self.run_once()
            except Exception:  # the database may be down: keep polling, the rows stay
                self._log.exception(self.failure)
                done = 0
            if done == 0:
                self._wake.wait(self.interval_s)
                self._wake.clear()

    def start_thread(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name=self.name, daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        """Ask the loop to stop and wait for its thread (if it has one) for up to `timeout`."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
