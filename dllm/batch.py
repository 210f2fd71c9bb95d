"""Many infills at once on one engine: their denoising steps share the model's forwards.

Each infill runs as the engine's step generator (`Engine.steps`), exactly as alone; the batcher only
answers the steps' needs. It owns one thread and a key/value slab with a row per running infill.
Every round it admits waiting infills (up to `max_batch` running), runs the steps that need a full
forward (a new canvas) as one padded forward and those that need only their window against their
cache as another, sends each infill its hidden states, and retires the finished ones: infills join
and leave between steps. Rows of different lengths share a forward through per-row positions and a
mask that hides each row's padding, so every row attends to exactly what it would alone.

A cancelled infill (its `CancelToken`) stops at its next step, as alone, and one whose future is
cancelled while it waits never starts; a failing one fails alone.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from .contract import Cancelled, CancelToken, Completion, Infiller
from .engine import Engine, Need
from .forward import bucket, eager_bucket

SLOT_ROUND = 256  # the slab's slots grow in steps of this


@dataclasses.dataclass(eq=False)
class Job:
    steps: Generator[Need, torch.Tensor, Completion]
    future: Future
    cancel: CancelToken | None = None
    need: Need | None = None
    row: int = -1  # the slab row holding this infill's keys/values (set by its first full forward)


class _Rows:
    """Some of the slab's rows and slots as the model's key/value cache (`update` as `KVCache`'s)."""

    def __init__(self, k: torch.Tensor, v: torch.Tensor) -> None:
        self.k, self.v = k, v  # (n_layers, B, Hkv, S, D) views of the slab

    def update(self, layer: int, slots: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
        K, V = self.k[layer], self.v[layer]
        if slots.dim() == 1:  # the same slots in every row
            K.index_copy_(2, slots, k)
            V.index_copy_(2, slots, v)
        else:  # (B, T): each row its own
            at = slots[:, None, :, None].expand_as(k)
            K.scatter_(2, at, k)
            V.scatter_(2, at, v)
        return K, V


def _padding_mask(lengths: torch.Tensor, queries: int, slots: int) -> torch.Tensor | None:
    """(B, queries, slots): each row attends to its own `lengths` slots; None when no row is padded."""
    if bool((lengths == slots).all()):
        return None
    keys = torch.arange(slots, device=lengths.device)
    return (keys[None, None, :] < lengths[:, None, None]).expand(lengths.numel(), queries, slots)


class Slab:
    """The batch's forwards over key/value rows (n_layers, rows, Hkv, slots, D), slots grown on demand.

    A group's rows must be one contiguous view, so each round the cached group takes rows 0.. and
    the full group the rows after it (`arrange`): moving a cached infill is one row copy; the full
    group's rows are rewritten anyway."""

    def __init__(self, model, rows: int) -> None:
        self.model, self.rows = model, rows
        p, c = model.embed_tokens.weight, model.cfg
        self.bucket_size = eager_bucket(p.device)  # a forward's slots, as `EagerForward`'s
        self.shape = (c.n_layers, rows, c.n_kv_heads, 0, c.head_dim)
        self.k = torch.zeros(self.shape, dtype=p.dtype, device=p.device)
        self.v = torch.zeros_like(self.k)

    def slots(self, lengths) -> int:
        """The slots a forward over canvases of these lengths spans (the longest, bucketed)."""
        return bucket(max(lengths), self.model, self.bucket_size)

    def reserve(self, slots: int) -> None:
        have = self.k.shape[3]
        if slots <= have:
            return
        grown = min(max(-(-slots // SLOT_ROUND) * SLOT_ROUND, 2 * have), max(slots, self.model.cfg.max_seq_len))
        k = self.k.new_zeros(self.shape[:3] + (grown,) + self.shape[4:])
        v = torch.zeros_like(k)
        k[:, :, :, :have], v[:, :, :, :have] = self.k, self.v
        self.k, self.v = k, v

    def arrange(self, cached: list[Job], full: list[Job]) -> list[Job]:
        """Rows 0..n-1 to the cached group, the next ones to the full group; the jobs in row order."""
        n = len(cached)
        held = {job.row for job in cached if 0 <= job.row < n}
        free = iter(r for r in range(n) if r not in held)
        for job in cached:
            if not 0 <= job.row < n:
                r = next(free)
                self.k[:, r], self.v[:, r] = self.k[:, job.row], self.v[:, job.row]
                job.row = r
        for i, job in enumerate(full):
            job.row = n + i
        return sorted(cached, key=lambda job: job.row) + full

    def _view(self, first: int, count: int, slots: int) -> _Rows:
        rows = slice(first, first + count)
        return _Rows(self.k[:, rows, :, :slots], self.v[:, rows, :, :slots])

    def full(self, jobs: list[Job]) -> list[torch.Tensor]:
        """Each job's canvas from scratch (into its row); each job's window hidden states (L, dim)."""
        dev = self.k.device
        sizes = [job.need.canvas.shape[1] for job in jobs]
        lengths, n = torch.tensor(sizes, device=dev), self.slots(sizes)
        ids = torch.zeros(len(jobs), n, dtype=torch.long, device=dev)
        for i, job in enumerate(jobs):
            ids[i, :job.need.canvas.shape[1]] = job.need.canvas[0]
        slots = torch.arange(n, device=dev)
        mask = _padding_mask(lengths, n, n)
        hidden = self.model.hidden(ids, slots, self._view(jobs[0].row, len(jobs), n), mask)
        return [hidden[i, job.need.window] for i, job in enumerate(jobs)]

    def cached(self, jobs: list[Job]) -> list[torch.Tensor]:
        """Each job's window against its row; each job's window hidden states (L, dim)."""
        dev = self.k.device
        sizes = [job.need.canvas.shape[1] for job in jobs]
        lengths, widths = torch.tensor(sizes, device=dev), [job.need.window.numel() for job in jobs]
        w, n = max(widths), self.slots(sizes)
        # a short window is padded with its last slot again: the same token at the same position
        # writes the same keys/values, and attends as that slot does
        first = jobs[0].need.window
        if all(torch.equal(job.need.window, first) for job in jobs[1:]):
            positions = first  # (w,): the same slots in every row
        else:
            positions = torch.stack([torch.cat([job.need.window, job.need.window[-1:].expand(w - width)])
                                     for job, width in zip(jobs, widths)])  # (B, w)
        rows = positions.expand(len(jobs), w)
        ids = torch.stack([job.need.canvas[0, pos] for job, pos in zip(jobs, rows)])  # (B, w)
        mask = _padding_mask(lengths, w, n)
        hidden = self.model.hidden(ids, positions, self._view(jobs[0].row, len(jobs), n), mask)
        return [hidden[i, :width] for i, width in enumerate(widths)]


class _Submitting:
    """What `Batcher` and `Serial` share: their `submit` returns a future; `infill` waits for it."""

    engine: Infiller
    max_batch: int

    @property
    def info(self) -> dict:
        return {**self.engine.info, "max_batch": self.max_batch}

    def infill(self, prefix: str, suffix: str, **options) -> Completion:
        return self.submit(prefix, suffix, **options).result()


class Batcher(_Submitting):
    """Infills on one engine, batched across callers (`submit` from any thread). `contract.Infiller`."""

    def __init__(self, engine: Engine, max_batch: int = 16,
                 observe: Callable[[int, int], None] | None = None) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.engine, self.max_batch = engine, max_batch
        self.observe = observe  # called each round with (running infills, forwards run)
        self.slab = Slab(engine.model, max_batch)
        self.waiting: collections.deque[Job] = collections.deque()
        self.running: list[Job] = []
        self.wake = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._loop, name="dllm-batcher", daemon=True)
        self.thread.start()

    @property
    def depth(self) -> tuple[int, int]:
        """(waiting, running) infills."""
        return len(self.waiting), len(self.running)

    def submit(self, prefix: str, suffix: str, **options) -> Future:
        """A future of the `Completion` (`Engine.infill`'s options; `cancel` stops it between steps)."""
        job = Job(self.engine.steps(prefix, suffix, **options), Future(), options.get("cancel"))
        with self.wake:
            if self.closed or not self.thread.is_alive():
                raise RuntimeError("the batcher is closed")
            self.waiting.append(job)
            self.wake.notify()
        return job.future

    def close(self) -> None:
        """Stop: running and waiting infills end `Cancelled`; the thread is joined."""
        with self.wake:
            self.closed = True
            self.wake.notify()
        self.thread.join()

    def _loop(self) -> None:
        with torch.inference_mode():
            while True:
                with self.wake:
                    while not (self.waiting or self.running or self.closed):
                        self.wake.wait()
                    if self.closed:
                        break
                    room = self.max_batch - len(self.running)
                    joining = [self.waiting.popleft() for _ in range(min(room, len(self.waiting)))]
                try:
                    if joining:
                        self.engine.loaded.threads.settle()
                    self.running += [job for job in joining if self._advance(job, None)]
                    if self.running:
                        self._round()
                except Exception as exc:  # noqa: BLE001 - a bug of ours: these infills fail, the batcher goes on
                    self._fail(self.running, exc)
        for job in self.running:
            job.steps.close()
            job.future.set_exception(Cancelled())
        for job in self.waiting:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(Cancelled())

    def _round(self) -> None:
        """One step of every running infill: a forward for the cached group, one for the full group."""
        most = self.engine.model.cfg.max_seq_len
        too_long = [job for job in self.running if job.need.canvas.shape[1] > most]
        if too_long:  # beyond the model's positions: that infill fails alone, before the shared forward
            self._fail(too_long, ValueError(f"the canvas is longer than the model's {most} positions"))
        if not self.running:
            return
        cached = [job for job in self.running if not job.need.full]
        full = [job for job in self.running if job.need.full]
        try:
            self.slab.reserve(self.slab.slots([job.need.canvas.shape[1] for job in self.running]))
            jobs = self.slab.arrange(cached, full)
            answers = (self.slab.cached(jobs[:len(cached)]) if cached else []) + (
                self.slab.full(jobs[len(cached):]) if full else [])
        except Exception as exc:  # noqa: BLE001 - e.g. out of memory: this round's infills fail, the batcher goes on
            self._fail(self.running, exc)
            return
        if self.observe is not None:
            self.observe(len(jobs), bool(cached) + bool(full))
        self.running = [job for job, hidden in zip(jobs, answers) if self._advance(job, hidden)]

    def _fail(self, jobs: list[Job], exc: Exception) -> None:
        for job in jobs:
            job.steps.close()
            if not job.future.done():
                job.future.set_exception(exc)
        self.running = [job for job in self.running if job not in jobs]

    @staticmethod
    def _advance(job: Job, hidden: torch.Tensor | None) -> bool:
        """Give the job its hidden states (None: start it); True while it needs more."""
        if job.need is None and not job.future.set_running_or_notify_cancel():
            return False  # its future was cancelled while it waited
        if job.need is None and job.cancel is not None and job.cancel.cancelled:
            job.future.set_exception(Cancelled())  # cancelled while it waited: not even begun
            return False
        try:
            job.need = next(job.steps) if hidden is None else job.steps.send(hidden)
            return True
        except StopIteration as done:
            job.future.set_result(done.value)
        except Exception as exc:  # noqa: BLE001 - Cancelled, bad options, ...: this infill's own end
            job.future.set_exception(exc)
        return False


class Serial(_Submitting):
    """`Batcher`'s interface, one infill at a time on a worker thread: for autoregressive models and as
    the baseline that batching is measured against."""

    max_batch = 1

    def __init__(self, engine) -> None:
        self.engine = engine
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="dllm-serial")
        self.pending: set[Future] = set()  # submitted and not done
        self.lock = threading.Lock()

    @property
    def depth(self) -> tuple[int, int]:
        with self.lock:
            running = sum(f.running() for f in self.pending)
            return len(self.pending) - running, running

    def submit(self, prefix: str, suffix: str, **options) -> Future:
        future = self.pool.submit(self.engine.infill, prefix, suffix, **options)
        with self.lock:
            self.pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future) -> None:
        with self.lock:
            self.pending.discard(future)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
