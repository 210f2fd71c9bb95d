"""The two forwards of a denoising step, run as they come or replayed from CUDA graphs.

A canvas's first step runs the whole canvas and fills the key/value cache (`full`); later steps run
only the middle window against that cache (`cached`). Both return the final hidden states of
the window, the slots whose outputs predict the middle (L, dim).

On a GPU a small or mid-size model's step is bound by kernel launches, not by arithmetic, so
`GraphedForward` runs both forwards at static shapes: the canvas padded up to a bucket of slots
(padding masked out of attention, so the real slots see exactly what they would unpadded), each
(bucket, window) shape captured once in a pair of CUDA graphs that share one cache, and replayed
after the step's inputs are copied into their static buffers. `choose_forward` decides once, at
load, by timing both on a probe canvas.
"""

from __future__ import annotations

import collections
import time

import torch

BUCKET = 256  # canvas slots are rounded up to a multiple of this: few shapes, at most 255 padded slots
MAX_SHAPES = 24  # captured shapes kept (least recently used dropped); a canvas needs one per window size


class EagerForward:
    """The model as it is: a fresh cache per block, shapes as they come."""

    name = "eager"

    def __init__(self, model, hidden=None) -> None:
        self.model = model
        self.hidden = hidden or model.hidden  # e.g. a torch.compile'd model.hidden
        self.cache = None

    def full(self, canvas: torch.Tensor, window: torch.Tensor, keep_cache: bool = True) -> torch.Tensor:
        """canvas (1, N) ids, window (L,) positions -> (L, dim); fills the cache unless told not to."""
        positions = torch.arange(canvas.shape[1], device=canvas.device)
        self.cache = self.model.new_cache(1, canvas.shape[1]) if keep_cache else None
        return self.hidden(canvas, positions, self.cache)[0, window]

    def cached(self, canvas: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
        """Only the window's slots, against the cache of the last `full`."""
        return self.hidden(canvas[:, window], window, self.cache)[0]


class _Shape:
    """Static buffers of one (slots, window) shape and, when captured, its two graphs."""

    def __init__(self, model, slots: int, length: int) -> None:
        dev = model.embed_tokens.weight.device
        self.model = model
        self.ids = torch.zeros(1, slots, dtype=torch.long, device=dev)  # canvas, padded with id 0
        self.positions = torch.arange(slots, device=dev)
        self.valid = torch.ones(slots, dtype=torch.bool, device=dev)  # (S,) real (not padding) slots
        self.window = torch.zeros(length, dtype=torch.long, device=dev)
        self.middle = torch.zeros(1, length, dtype=torch.long, device=dev)
        self.cache = model.new_cache(1, slots)
        self.graphs = None  # (graph, output) of the full and of the cached forward, once captured

    def _full(self) -> torch.Tensor:
        S = self.valid.numel()
        hidden = self.model.hidden(self.ids, self.positions, self.cache, self.valid.expand(S, S))
        return hidden[0].index_select(0, self.window)

    def _cached(self) -> torch.Tensor:
        mask = self.valid.expand(self.window.numel(), -1)
        return self.model.hidden(self.middle, self.window, self.cache, mask)[0]

    def run(self, which: int) -> torch.Tensor:
        """0: the full forward, 1: the cached one."""
        if self.graphs is None:
            return (self._full, self._cached)[which]()
        graph, out = self.graphs[which]
        graph.replay()
        return out

    def capture(self) -> None:
        dev = self.ids.device
        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):
            for _ in range(2):  # warm-up: allocator, cuBLAS workspaces, kernel selection
                self._full(), self._cached()
        torch.cuda.current_stream(dev).wait_stream(side)
        pool, graphs = torch.cuda.graph_pool_handle(), []
        for fn in (self._full, self._cached):
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool):
                out = fn()
            graphs.append((graph, out))
        self.graphs = graphs


class GraphedForward:
    """Both forwards at bucketed static shapes; captured in CUDA graphs when `capture` (CUDA only).

    Without `capture` it runs the same padded, masked shapes eagerly: how the tests check, on the
    CPU, that padding changes nothing. A returned tensor is a static buffer: valid until the next call.
    """

    name = "cuda-graphs"

    def __init__(self, model, capture: bool = True, bucket: int = BUCKET) -> None:
        self.model, self.capture, self.bucket = model, capture, bucket
        self.shapes: collections.OrderedDict[tuple[int, int], _Shape] = collections.OrderedDict()
        self.current: _Shape | None = None

    def _shape(self, n: int, length: int) -> _Shape:
        slots = max(n, min(-(-n // self.bucket) * self.bucket, self.model.cfg.max_seq_len))
        key = (slots, length)
        shape = self.shapes.pop(key, None)
        if shape is None:
            shape = _Shape(self.model, slots, length)
            if self.capture:
                shape.capture()
            if len(self.shapes) >= MAX_SHAPES:
                self.shapes.popitem(last=False)
        self.shapes[key] = shape
        return shape

    def full(self, canvas: torch.Tensor, window: torch.Tensor, keep_cache: bool = True) -> torch.Tensor:
        n = canvas.shape[1]
        shape = self.current = self._shape(n, window.numel())
        shape.ids[:, :n].copy_(canvas)
        shape.ids[:, n:].zero_()
        torch.lt(shape.positions, n, out=shape.valid)
        shape.window.copy_(window)
        return shape.run(0)

    def cached(self, canvas: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
        shape = self.current
        torch.index_select(canvas, 1, window, out=shape.middle)
        return shape.run(1)


def _time_probe(forward, canvas: torch.Tensor, window: torch.Tensor, steps: int) -> float:
    """Seconds for one block on the probe canvas: a full step, then `steps` cached ones."""
    torch.cuda.synchronize(canvas.device)
    t0 = time.perf_counter()
    forward.full(canvas, window)
    for _ in range(steps):
        forward.cached(canvas, window)
    torch.cuda.synchronize(canvas.device)
    return time.perf_counter() - t0


def choose_forward(model, graphs: str = "auto", hidden=None) -> tuple[EagerForward | GraphedForward, str]:
    """(the step's forward, why): graphs "auto" | "on" | "off". Off the GPU: eager. On CUDA, "auto" times
    both on a probe canvas (one block: a full step and 7 cached ones) and keeps the faster."""
    if graphs not in ("auto", "on", "off"):
        raise ValueError(f"graphs must be one of auto, on, off, got {graphs!r}")
    eager = EagerForward(model, hidden)
    device = model.embed_tokens.weight.device
    if graphs == "off":
        return eager, "off (asked)"
    if device.type != "cuda":
        if graphs == "on":
            raise ValueError(f"CUDA graphs need a CUDA device, got {device.type}")
        return eager, f"off (no CUDA graphs on {device.type})"
    if graphs == "on":
        return GraphedForward(model), "on (asked)"
    n = min(model.cfg.max_seq_len, BUCKET * 4) - BUCKET // 2
    canvas = torch.randint(0, model.cfg.vocab_size, (1, n), device=device)
    window = torch.arange(n // 2, n // 2 + 16, device=device)
    try:
        with torch.inference_mode():
            graphed = GraphedForward(model)
            _time_probe(graphed, canvas, window, 1)  # captures the probe shape
            _time_probe(eager, canvas, window, 1)
            t_graph = min(_time_probe(graphed, canvas, window, 7) for _ in range(3))
            t_eager = min(_time_probe(eager, canvas, window, 7) for _ in range(3))
    except Exception as exc:  # noqa: BLE001 - any failure to capture means: run eagerly
        return eager, f"off (capture failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    probe = f"probe block {t_graph * 1e3:.2f} ms vs eager {t_eager * 1e3:.2f} ms"
    return (graphed, f"on ({probe})") if t_graph < t_eager else (eager, f"off ({probe})")
