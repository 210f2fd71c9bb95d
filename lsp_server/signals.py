"""Stop signals as exceptions: SIGINT and SIGTERM raise `Interrupted` in the main thread, like Ctrl-C's
KeyboardInterrupt, so that both commands (`cli.py`, `launch.py`) end the same way on either; or, while
loading the model, end the process at once (`stop_signals_exit`)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGINT or SIGTERM), raised in the main thread like Ctrl-C's KeyboardInterrupt."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


def _interrupt(signum: int, frame) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def _on_stop_signals(handler) -> Iterator[None]:
    """`handler` for SIGINT and SIGTERM inside the block; the handlers that were there before after it."""
    before = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, previous in before.items():
            signal.signal(sig, previous)


def stop_signals_raise() -> contextlib.AbstractContextManager:
    """Inside the block SIGINT and SIGTERM raise `Interrupted` in the main thread."""
    return _on_stop_signals(_interrupt)


def stop_signals_exit(program: str) -> contextlib.AbstractContextManager:
    """Inside the block SIGINT and SIGTERM end the process at once, with the line `stop_signals_raise`'s
    callers print and status 128 + the signal: for work that an exception must not cut in half, such as
    importing torch (interrupted there, the import half-done crashed or segfaulted on the way out)."""
    def leave(signum: int, frame) -> None:
        os.write(2, f"{program}: interrupted ({signal.Signals(signum).name})\n".encode())
        os._exit(128 + signum)

    return _on_stop_signals(leave)
