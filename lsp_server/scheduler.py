"""One thread owns the model; the newest request per document wins.

`ModelThread` is a daemon thread that runs model work (loading, warm-up, infills) one call at a
time, in order; `close` drops the queued calls and joins it, so that it never runs torch while the
interpreter exits (a thread inside torch then aborts the process: "terminate called without an
active exception"). `Scheduler` sits between it and the asyncio loop: every request gets a cancel
token; a newer request for the same key (document) cancels the older one's token, which drops it
from the queue before it reaches the model or stops it between denoising steps (the engine polls
the token). `$/cancelRequest` arrives as asyncio cancellation of the awaiting handler and is turned
into the same token cancel. The loop only ever awaits futures, so it keeps serving `didChange`
and cancellations while the model runs. A cancelled or superseded request raises `Superseded`:
its result, even if computed, is never delivered.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from dllm_complete.dllm.contract import CancelToken

T = TypeVar("T")


class Superseded(Exception):
    """A newer request replaced this one, or it was cancelled, or model work was switched off."""


class ModelThread:
    """A single daemon thread running submitted calls in order."""

    def __init__(self, name: str = "dllm-model") -> None:
        self._queue: queue.SimpleQueue[tuple[Future, Callable, tuple] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue `fn(*args)`; after `close` the future comes back cancelled."""
        fut: Future[T] = Future()
        with self._lock:
            if self._closed:
                fut.cancel()
            else:
                self._queue.put((fut, fn, args))
        return fut

    def close(self, timeout: float | None = None) -> bool:
        """Cancel every queued call, let the running one end, join; False if it outlived `timeout`."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            fut, fn, args = item
            if self._closed:
                fut.cancel()
                continue
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
                fut.set_exception(exc)


@dataclass
class Counters:
    submitted: int = 0
    skipped: int = 0  # superseded or cancelled before reaching the model: a model call saved
    stopped: int = 0  # cancelled while on the model thread (between denoising steps)
    served: int = 0
    failed: int = 0


class Scheduler:
    def __init__(self) -> None:
        self.thread = ModelThread()
        self.counters = Counters()
        self._latest: dict[str, Any] = {}
        self._paused = False

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` on the model thread (loading, warm-up), outside the per-document rule."""
        return await asyncio.wrap_future(self.thread.submit(fn, *args))

    async def run(self, key: str, fn: Callable[[Any], T], *, debounce_s: float = 0.0) -> T:
        """Run `fn(token)` on the model thread as the newest request for `key`."""
        if self._paused:
            raise Superseded()
        token = CancelToken()
        if (older := self._latest.get(key)) is not None:
            older.cancel()
        self._latest[key] = token
        self.counters.submitted += 1
        started = threading.Event()
        try:
            if debounce_s > 0:
                await asyncio.sleep(debounce_s)
            if token.cancelled:
                raise Superseded()
            result = await asyncio.wrap_future(self.thread.submit(self._guard, token, fn, started))
            if token.cancelled:
                raise Superseded()
            self.counters.served += 1
            return result
        except (asyncio.CancelledError, Superseded):
            token.cancel()
            if started.is_set():
                self.counters.stopped += 1
            else:
                self.counters.skipped += 1
            raise
        except Exception:
            self.counters.failed += 1
            raise
        finally:
            if self._latest.get(key) is token:
                del self._latest[key]

    @staticmethod
    def _guard(token: Any, fn: Callable[[Any], T], started: threading.Event) -> T:
        if token.cancelled:
            raise Superseded()
        started.set()
        try:
            return fn(token)
        except Exception:
            if token.cancelled:  # the engine's own Cancelled, or anything raised while stopping
                raise Superseded() from None
            raise

    def cancel(self, key: str) -> None:
        if (token := self._latest.get(key)) is not None:
            token.cancel()

    def cancel_all(self) -> None:
        for token in list(self._latest.values()):
            token.cancel()

    def pause(self, paused: bool) -> None:
        """While paused (the global off switch), every run is refused and running ones stop."""
        self._paused = paused
        if paused:
            self.cancel_all()

    def close(self, timeout: float | None = None) -> bool:
        """Stop the running job between denoising steps, drop the queued ones and join the model
        thread; False if it was still busy (an uncancellable load) after `timeout` seconds."""
        self._paused = True
        self.cancel_all()
        return self.thread.close(timeout)
