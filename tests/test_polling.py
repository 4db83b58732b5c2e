"""The polling loop of the sender and the context pass: a failed round is logged and the loop
goes on, work means another round at once, `wake` cuts the wait short, a stop ends the thread."""

from __future__ import annotations

import logging
import threading

import pytest

from app.polling import Polling


class Rounds(Polling):
    name = "relais-test-pass"
    failure = "test pass failed"

    def __init__(self, script: list[int | Exception], interval_s: float = 60.0):
        super().__init__(interval_s, logging.getLogger("relais.test"))
        self.script = script
        self.rounds = 0
        self.idle = threading.Event()  # set when the script is exhausted

    def run_once(self) -> int:
        self.rounds += 1
        if not self.script:
            self.idle.set()
            return 0
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


def test_a_failed_round_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    # rounds with work follow each other at once; the failure waits the interval (60 s) unless woken
    passes = Rounds([3, RuntimeError("database down"), 2])
    passes.start_thread()
    try:
        for _ in range(100):
            if "test pass failed" in caplog.text:
                break
            threading.Event().wait(0.02)
        assert "test pass failed" in caplog.text and "database down" in caplog.text
        assert not passes.idle.wait(0.3)  # waiting out the interval after the failure
        passes.wake()
        assert passes.idle.wait(5)
        assert passes.rounds == 4
    finally:
        passes.join(5)
    assert passes._thread is not None and not passes._thread.is_alive()


def test_a_stop_during_the_wait_ends_the_thread_at_once() -> None:
    passes = Rounds([])
    passes.start_thread()
    assert passes.idle.wait(5)
    passes.join(5)
    assert passes.stopping
    assert passes._thread is not None and not passes._thread.is_alive()
