"""The model's forward passes while serving, run as they come or replayed from CUDA graphs.

Diffusion (`Engine`): a canvas's first step runs the whole canvas and fills the key/value cache
(`full`); later steps run only the middle window against that cache (`cached`). Both return the
final hidden states of the window, the slots whose outputs predict the middle (L, dim).
Autoregressive (`ARDecoder`): `prefill` runs the prompt causally into the cache, `step` one token;
both return the next token's logits (1, V).

On a GPU a small or mid-size model's step is bound by kernel launches, not arithmetic, so the
graphed variants run at static shapes: the cache padded up to a bucket of slots (padding masked out
of attention, so the real slots see exactly what they would unpadded), each shape's repeated
forwards captured once in CUDA graphs that share its cache, and replayed after the step's inputs are
copied into their static buffers. `choose` decides once, at load, by timing both on a probe.
"""

from __future__ import annotations

import collections
import time

import torch

from dllm_complete.kernels import packed
from dllm_complete.kernels.dispatch import BACKENDS, Backend, select_backend

from .contract import describe

BUCKET = 256  # cache slots are rounded up to a multiple of this: few shapes, at most 255 padded slots
CPU_BUCKET = 64  # on the CPU a canvas's or a prompt's slots are rounded up to a multiple of this (`EagerForward`)
MAX_SHAPES = 24  # shapes kept (least recently used dropped); a diffusion canvas needs one per window size


def capture_graphs(fns, dev: torch.device) -> list[tuple[torch.cuda.CUDAGraph, torch.Tensor]]:
    """(graph, static output) of each function, after a warm-up; one memory pool for all."""
    side = torch.cuda.Stream(dev)
    side.wait_stream(torch.cuda.current_stream(dev))
    with torch.cuda.stream(side):
        for _ in range(2):  # allocator, cuBLAS workspaces, kernel selection
            for fn in fns:
                fn()
    torch.cuda.current_stream(dev).wait_stream(side)
    pool, graphs = torch.cuda.graph_pool_handle(), []
    for fn in fns:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=pool):
            out = fn()
        graphs.append((graph, out))
    return graphs


class _Static:
    """A shape's static forwards: run them as they are, or replay their graphs once captured."""

    model = None
    fns: tuple = ()
    graphs = None

    def capture(self) -> None:
        self.graphs = capture_graphs(self.fns, self.model.embed_tokens.weight.device)

    def run(self, which: int) -> torch.Tensor:
        if self.graphs is None:
            return self.fns[which]()
        graph, out = self.graphs[which]
        graph.replay()
        return out


class Shapes:
    """Static shapes by key, least recently used dropped; captured on creation when asked."""

    def __init__(self, make, capture: bool) -> None:
        self.make, self.capture = make, capture
        self.shapes: collections.OrderedDict = collections.OrderedDict()

    def get(self, key):
        shape = self.shapes.pop(key, None)
        if shape is None:
            shape = self.make(*key)
            if self.capture:
                shape.capture()
            if len(self.shapes) >= MAX_SHAPES:
                self.shapes.popitem(last=False)
        self.shapes[key] = shape
        return shape


def bucket(n: int, model, size: int = BUCKET) -> int:
    """Cache slots for n positions: n rounded up to a multiple of `size`, within the model's positions."""
    return max(n, min(-(-n // size) * size, model.cfg.max_seq_len))


def eager_bucket(device: torch.device) -> int:
    """The slot multiple of eager forwards on `device`: `CPU_BUCKET` on the CPU, none elsewhere."""
    return CPU_BUCKET if device.type == "cpu" else 1


# ------------------------------------------------------------------------------------ diffusion


class EagerForward:
    """The model as it is: a fresh cache per canvas. With `bucket_size` > 1 the canvas is padded up to
    a multiple of it (the padding masked out of attention, as the graphed forwards do), so that its
    GEMMs come in a few shapes: on the CPU oneDNN builds a kernel per new shape, ~2 ms a GEMM, and
    an editor's every request has a context of a new length (`CPU_BUCKET`)."""

    def __init__(self, model, hidden=None, bucket_size: int = 1) -> None:
        self.model, self.bucket_size = model, bucket_size
        self.hidden = hidden or model.hidden  # e.g. a torch.compile'd model.hidden
        self.cache = None
        self.valid: torch.Tensor | None = None  # (S,) the canvas's real slots, where it was padded

    def full(self, canvas: torch.Tensor, window: torch.Tensor, keep_cache: bool = True) -> torch.Tensor:
        """canvas (1, N) ids, window (L,) positions -> (L, dim); fills the cache unless told not to."""
        n = canvas.shape[1]
        slots = bucket(n, self.model, self.bucket_size)
        positions = torch.arange(slots, device=canvas.device)
        self.valid = positions < n if slots > n else None
        ids = torch.nn.functional.pad(canvas, (0, slots - n)) if slots > n else canvas
        self.cache = self.model.new_cache(1, slots) if keep_cache else None
        return self.hidden(ids, positions, self.cache, self._mask(slots))[0, window]

    def cached(self, canvas: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
        """Only the window's slots, against the cache of the last `full`."""
        return self.hidden(canvas[:, window], window, self.cache, self._mask(window.numel()))[0]

    def _mask(self, queries: int) -> torch.Tensor | None:
        return None if self.valid is None else self.valid.expand(queries, -1)


class _CanvasShape(_Static):
    def __init__(self, model, slots: int, length: int) -> None:
        dev = model.embed_tokens.weight.device
        self.model = model
        self.ids = torch.zeros(1, slots, dtype=torch.long, device=dev)  # canvas, padded with id 0
        self.positions = torch.arange(slots, device=dev)
        self.valid = torch.ones(slots, dtype=torch.bool, device=dev)  # (S,) real (not padding) slots
        self.window = torch.zeros(length, dtype=torch.long, device=dev)
        self.middle = torch.zeros(1, length, dtype=torch.long, device=dev)
        self.cache = model.new_cache(1, slots)
        self.fns = (self._full, self._cached)

    def _full(self) -> torch.Tensor:
        S = self.valid.numel()
        hidden = self.model.hidden(self.ids, self.positions, self.cache, self.valid.expand(S, S))
        return hidden[0].index_select(0, self.window)

    def _cached(self) -> torch.Tensor:
        mask = self.valid.expand(self.window.numel(), -1)
        return self.model.hidden(self.middle, self.window, self.cache, mask)[0]


class GraphedForward:
    """Both forwards at bucketed static shapes; captured in CUDA graphs when `capture` (CUDA only).

    Without `capture` it runs the same padded, masked shapes eagerly: how the tests check, on the
    CPU, that padding changes nothing. A returned tensor is a static buffer: valid until the next call.
    """

    def __init__(self, model, capture: bool = True, bucket_size: int = BUCKET) -> None:
        self.model, self.bucket_size = model, bucket_size
        self.shapes = Shapes(lambda slots, length: _CanvasShape(model, slots, length), capture)
        self.current: _CanvasShape | None = None

    def full(self, canvas: torch.Tensor, window: torch.Tensor, keep_cache: bool = True) -> torch.Tensor:
        n = canvas.shape[1]
        shape = self.current = self.shapes.get((bucket(n, self.model, self.bucket_size), window.numel()))
        shape.ids[:, :n].copy_(canvas)
        shape.ids[:, n:].zero_()
        torch.lt(shape.positions, n, out=shape.valid)
        shape.window.copy_(window)
        return shape.run(0)

    def cached(self, canvas: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
        shape = self.current
        torch.index_select(canvas, 1, window, out=shape.middle)
        return shape.run(1)


# ------------------------------------------------------------------------------------------- AR


def next_logits(model, tokens: torch.Tensor, positions: torch.Tensor, cache, slots: torch.Tensor) -> torch.Tensor:
    """Logits (1, V) after the last of `tokens` (1, T) at `positions` (T,), attending causally over the
    cache `slots` (S,); later (and padded) slots stay hidden."""
    return all_logits(model, tokens, positions, cache, slots, rows=slice(-1, None))


def all_logits(model, tokens: torch.Tensor, positions: torch.Tensor, cache, slots: torch.Tensor,
               rows: slice = slice(None)) -> torch.Tensor:
    """Logits (T, V) after each of `tokens` (1, T) at `positions` (T,), causal over the cache `slots`
    (only those of `rows`)."""
    mask = slots[None, :] <= positions[:, None]  # (T, S)
    return model.lm_head(model.hidden(tokens, positions, cache, mask)[0, rows])


class EagerDecode:
    """Prefill and one-token steps on a cache of the slots asked for. With `bucket_size` > 1 the prompt
    and the cache are padded up to a multiple of it, as `EagerForward`'s canvas is: the padding after
    the prompt is hidden causally, and each step overwrites its slot before any query sees it."""

    def __init__(self, model, bucket_size: int = 1) -> None:
        self.model, self.bucket_size = model, bucket_size
        self.slots = self.cache = None

    def prefill(self, prompt: torch.Tensor, slots: int) -> torch.Tensor:
        """prompt (1, n) into a cache of `slots` -> logits of the next token (1, V)."""
        n = prompt.shape[1]
        padded = bucket(n, self.model, self.bucket_size)
        self.slots = torch.arange(bucket(max(slots, padded), self.model, self.bucket_size), device=prompt.device)
        self.cache = self.model.new_cache(1, self.slots.numel())
        ids = torch.nn.functional.pad(prompt, (0, padded - n))
        return all_logits(self.model, ids, self.slots[:padded], self.cache, self.slots, rows=slice(n - 1, n))

    def step(self, token: int, pos: int) -> torch.Tensor:
        """`token` at position `pos` -> logits of the next one (1, V)."""
        ids = torch.tensor([[token]], device=self.slots.device)
        return next_logits(self.model, ids, self.slots[pos:pos + 1], self.cache, self.slots)

    def steps(self, tokens: list[int], pos: int) -> torch.Tensor:
        """`tokens` at positions `pos`... -> logits after each (T, V): a draft checked in one call."""
        ids = torch.tensor([tokens], device=self.slots.device)
        return all_logits(self.model, ids, self.slots[pos:pos + len(tokens)], self.cache, self.slots)


class _DecodeShape(_Static):
    def __init__(self, model, slots: int) -> None:
        dev = model.embed_tokens.weight.device
        self.model = model
        self.slots = torch.arange(slots, device=dev)
        self.cache = model.new_cache(1, slots)
        self.token = torch.zeros(1, 1, dtype=torch.long, device=dev)
        self.pos = torch.zeros(1, dtype=torch.long, device=dev)
        self.fns = (self._step,)

    def _step(self) -> torch.Tensor:
        return next_logits(self.model, self.token, self.pos, self.cache, self.slots)


class GraphedDecode:
    """The one-token step at bucketed static shapes, replayed from a CUDA graph when `capture`; the
    prompt's prefill runs eagerly into the same cache. Returned logits are valid until the next call."""

    def __init__(self, model, capture: bool = True, bucket_size: int = BUCKET) -> None:
        self.model, self.bucket_size = model, bucket_size
        self.shapes = Shapes(lambda slots: _DecodeShape(model, slots), capture)
        self.current: _DecodeShape | None = None

    def prefill(self, prompt: torch.Tensor, slots: int) -> torch.Tensor:
        shape = self.current = self.shapes.get((bucket(slots, self.model, self.bucket_size),))
        return next_logits(self.model, prompt, shape.slots[:prompt.shape[1]], shape.cache, shape.slots)

    def step(self, token: int, pos: int) -> torch.Tensor:
        shape = self.current
        shape.token.fill_(token)
        shape.pos.fill_(pos)
        return shape.run(0)

    def steps(self, tokens: list[int], pos: int) -> torch.Tensor:
        """As `EagerDecode.steps`, eagerly into the same cache (drafts vary in length: no graph)."""
        shape = self.current
        ids = torch.tensor([tokens], device=shape.slots.device)
        return all_logits(self.model, ids, shape.slots[pos:pos + len(tokens)], shape.cache, shape.slots)


# ------------------------------------------------------------------------------------- decision


def _seconds(fn, device) -> float:
    torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def _diffusion_probe(forward, canvas, window):
    """One block on the probe canvas: a full step, then 7 cached ones."""
    def run():
        forward.full(canvas, window)
        for _ in range(7):
            forward.cached(canvas, window)
    return run


def _decode_probe(decode, prompt, steps: int = 16):
    """A prompt, then 16 one-token steps."""
    def run():
        n = prompt.shape[1]
        decode.prefill(prompt, n + steps)
        for i in range(steps):
            decode.step(7, n + i)
    return run


def fast_path(model, kernels: str = "auto") -> Backend | None:
    """The kernel backend ("auto" | "triton" | "torch"; "off" = None), set on the model once at load: its
    attention op, q/k/v and gate/up stacked into one GEMM each, and (bf16 on the CPU) every GEMM's weight
    packed for oneDNN (`kernels/packed.py`). "off" leaves the model as built."""
    if kernels == "off":
        model.use_attention(None)
        return None
    if kernels not in BACKENDS:
        raise ValueError(f"kernels must be one of {', '.join(BACKENDS)}, off; got {kernels!r}")
    backend = select_backend(kernels, model.embed_tokens.weight.device)
    model.use_attention(backend.attention)
    model.fuse_projections()
    for weight in model.gemm_weights():
        packed.register(weight)
    return backend


def packed_gemms(model) -> int:
    """How many of the model's GEMM weights run packed for oneDNN (`kernels/packed.py`)."""
    return sum(packed.is_packed(weight) for weight in model.gemm_weights())


def choose(model, graphs: str = "auto", kind: str = "diffusion", hidden=None):
    """(forwards, why) for `kind` "diffusion" (`full`/`cached`) or "ar" (`prefill`/`step`); graphs
    "auto" | "on" | "off". Off the GPU: eager. On CUDA "auto" times both on a probe (a canvas or a
    prompt of 896 tokens) and keeps the faster; a failed capture means eager, with the reason."""
    if graphs not in ("auto", "on", "off"):
        raise ValueError(f"graphs must be one of auto, on, off, got {graphs!r}")
    diffusion = kind == "diffusion"
    device = model.embed_tokens.weight.device
    size = eager_bucket(device)
    eager = EagerForward(model, hidden, size) if diffusion else EagerDecode(model, size)
    if graphs == "off":
        return eager, "off (asked)"
    if device.type != "cuda":
        if graphs == "on":
            raise ValueError(f"CUDA graphs need a CUDA device, got {device.type}")
        return eager, f"off (no CUDA graphs on {device.type})"
    graphed = GraphedForward(model) if diffusion else GraphedDecode(model)
    if graphs == "on":
        return graphed, "on (asked)"
    n = min(model.cfg.max_seq_len, BUCKET * 4) - BUCKET // 2
    ids = torch.randint(0, model.cfg.vocab_size, (1, n), device=device)
    window = torch.arange(n // 2, n // 2 + 16, device=device)
    probe = (lambda f: _diffusion_probe(f, ids, window)) if diffusion else (lambda f: _decode_probe(f, ids))
    try:
        with torch.inference_mode():
            runs = {"graphs": probe(graphed), "eager": probe(eager)}
            for run in runs.values():
                run()  # captures the probe's shape; warms the eager path
            took = {name: min(_seconds(run, device) for _ in range(3)) for name, run in runs.items()}
    except Exception as exc:  # noqa: BLE001 - any failure to capture means: run eagerly
        return eager, f"off (capture failed: {describe(exc)})"
    why = f"probe {took['graphs'] * 1e3:.2f} ms vs eager {took['eager'] * 1e3:.2f} ms"
    return (graphed, f"on ({why})") if took["graphs"] < took["eager"] else (eager, f"off ({why})")
