"""Stopping a run cleanly: the first SIGINT/SIGTERM lets the current iteration finish (it is checkpointed),
a second one abandons it at once."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any, Protocol

__all__ = ["StopState", "stop_on_signals"]


class StopState(Protocol):
    stop_signal: str | None
    """The name of the signal that asked the run to stop (None: none yet)."""


@contextlib.contextmanager
def stop_on_signals(state: StopState) -> Iterator[None]:
    """While inside, SIGINT/SIGTERM set ``state.stop_signal`` (the loop stops after the iteration); a second
    signal raises KeyboardInterrupt (the last checkpoint stays). The previous handlers come back on exit.
    Off the main thread (where Python cannot install handlers) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if state.stop_signal is not None:
            raise KeyboardInterrupt
        state.stop_signal = signal.Signals(signum).name

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
