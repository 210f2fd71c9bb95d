"""The denoising loop: fill a canvas of [MASK] slots between prefix and suffix, in parallel.

One loop for every setting. The span is denoised block after block (one block unless `block_size` is
set). A canvas's first step is a full forward over prefix + middle + suffix that also fills the
key/value cache (Fast-dLLM's dual cache; with `refresh_each_block` every block's first step is);
later steps recompute only the middle slots against the cached prefix/suffix. Both forwards come
from `forward.py` (eager, or CUDA graphs where a probe at load shows them faster). Each step scores
every masked slot and commits the confident ones (`sampler.py`), at least enough to finish within
the step cap (`schedule.py`); greedy steps score the masked rows only, with the fused LM-head and
confidence op of `kernels/` (backend chosen once, in the constructor). An end-of-middle token ends
the completion early (all later slots become padding); if the canvas fills with real code it grows,
up to a cap; or, for a family whose model edits its canvas (DreamOn), a committed <|expand|> becomes two
masks and a committed end-of-middle is deleted, so the model sets the length itself. Between steps the loop polls the cancel token and asks the constraint which committed
slots to mask again; a re-masked slot is never offered the token it was rejected for again. Model
calls are bounded: a block still masked after its step cap (a step committed [MASK]) raises.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator

import torch

from dllm_complete.kernels.reference import ban_bias

from .canvas import Context
from .checkpoint import Loaded
from .contract import CancelToken, Completion, Constraint, SamplerConfig, Stats
from .forward import choose, fast_path, packed_gemms
from .infill import begin, end
from .model import Linear
from .sampler import propose, select
from .schedule import block_size, blocks, min_commits, step_budget
from .tokenizer import end_ids


@dataclasses.dataclass
class Need:
    """What a denoising step needs from the model: the hidden states of the `window` slots (L,) of
    `canvas` (1, N), from a `full` forward over the canvas (which refills the cache unless not
    `keep_cache`) or from the window alone against the cache of the last full one."""
    full: bool
    canvas: torch.Tensor
    window: torch.Tensor
    keep_cache: bool = True


@dataclasses.dataclass
class Run:
    """One infill's state through the denoising loop: its settings, stats and re-masking state (the
    budget left, and per slot the tokens rejected there: never proposed there again, so a re-masked
    slot gets the model's next choice instead of the same one)."""
    ctx: Context
    cfg: SamplerConfig
    mode: str
    stats: Stats
    cancel: CancelToken | None = None
    constraint: Constraint | None = None
    gen: torch.Generator | None = None
    remask_left: int = 0
    rejected: dict[int, set[int]] = dataclasses.field(default_factory=dict)
    cap: int = 0  # most slots the middle may have
    expand_left: int = 0  # expansions left (families that edit their canvas)


class Engine:
    """Masked-diffusion infilling with a loaded model. `infill` may be called from any thread: calls
    run one at a time (`Loaded.busy`); `steps` and `run` belong to one thread (the batcher's)."""

    def __init__(self, loaded: Loaded, sampler: SamplerConfig | None = None, kernels: str = "auto",
                 compile_forward: bool = False, graphs: str = "auto") -> None:
        self.loaded = loaded
        self.model, self.tokenizer, self.spec = loaded.model, loaded.tokenizer, loaded.spec
        self.sampler = sampler or SamplerConfig()
        self.context_tokens = loaded.spec.context_tokens
        self.device = self.model.embed_tokens.weight.device
        sp = self.tokenizer.special
        self.mask_id, self.eom_id, self.expand_id = sp.mask, sp.eom, sp.expand
        V = self.model.cfg.vocab_size
        self.end_ids = {mode: end_ids(self.tokenizer, mode) for mode in ("single", "multi")}
        self.stop_ids = torch.tensor(self.tokenizer.stop_ids(), device=self.device)
        self.newline = torch.zeros(V, dtype=torch.bool, device=self.device)  # (V,) tokens holding a newline
        self.newline[self.tokenizer.newline_ids()] = True
        pieces = self.tokenizer.pieces()
        self.blank = torch.tensor([not p.strip() for p in pieces] + [True] * (V - len(pieces)),
                                  device=self.device)  # (V,) whitespace-only pieces (stops decode to "")
        self.banned = torch.tensor(self.tokenizer.never_generated(V), dtype=torch.long, device=self.device)
        # greedy steps score masked rows with the fused LM head + confidence (`kernels/`); "off" = plain
        self.kernels = fast_path(self.model, kernels)
        self.ban_bias = ban_bias(self.model.cfg.vocab_size, self.banned, self.device)  # (V,) 0 / -inf
        # the step's forwards: CUDA graphs where a probe at load shows them faster (`forward.py`);
        # torch.compile is opt-in (CPU: see kernels/README.md for the measurement)
        hidden = torch.compile(self.model.hidden, dynamic=True) if compile_forward else None
        self.forward, self.graphs = choose(self.model, graphs, "diffusion", hidden)

    @property
    def info(self) -> dict:
        return {**self.loaded.info, "kernels": self.kernels.name if self.kernels else "off",
                "attention": self.kernels.attention_name if self.kernels else "sdpa", "graphs": self.graphs,
                "packed_gemms": packed_gemms(self.model)}

    def infill(self, prefix: str, suffix: str, *, language: str | None = None, mode: str = "single",
               max_tokens: int | None = None, cancel: CancelToken | None = None,
               constraint: Constraint | None = None, sampler: SamplerConfig | None = None) -> Completion:
        """The middle between `prefix` and `suffix` (`contract.Infiller`)."""
        with self.loaded.busy, torch.inference_mode():
            self.loaded.threads.settle()  # torch's thread count for this call (`threads.py`)
            return self.run(self.steps(prefix, suffix, language=language, mode=mode, max_tokens=max_tokens,
                                       cancel=cancel, constraint=constraint, sampler=sampler))

    def steps(self, prefix: str, suffix: str, *, language: str | None = None, mode: str = "single",
              max_tokens: int | None = None, cancel: CancelToken | None = None,
              constraint: Constraint | None = None,
              sampler: SamplerConfig | None = None) -> Generator[Need, torch.Tensor, Completion]:
        """The infill as the model calls it needs: yields each step's `Need`, is sent the hidden states
        of its window (L, dim), returns the completion. `run` answers them one infill at a time with
        this engine's forwards; `batch.Batcher` answers many infills' needs with shared forwards."""
        start = begin(self.tokenizer, prefix, suffix, mode, max_tokens, sampler or self.sampler, constraint,
                      self.context_tokens, self.model.cfg.max_seq_len, self.spec.logits_shift)
        cfg = start.cfg
        gen = torch.Generator(self.device).manual_seed(cfg.seed) if cfg.temperature > 0 else None
        run = Run(start.ctx, cfg, mode, start.stats, cancel, constraint, gen, remask_left=cfg.remask_budget,
                  cap=start.cap, expand_left=start.cap)
        middle = torch.empty((0,), dtype=torch.long, device=self.device)
        edits = self.expand_id is not None
        # grown while the canvas fills up with real code; a canvas the model edits sets its own length
        for length in [start.first] if edits else start.lengths:
            pad = torch.full((length - middle.numel(),), self.mask_id, dtype=torch.long, device=self.device)
            middle = yield from self._denoise(run, torch.cat([middle, pad]))
            while edits and bool((middle == self.mask_id).any()):  # an edit changed the canvas: denoise the new one
                middle = yield from self._denoise(run, middle)
            if bool(self._ends(middle, mode).any()):
                break
        kept = self._kept(middle.tolist())
        run.stats.canvas, run.stats.tokens = middle.numel(), len(kept)
        return end(start, self.tokenizer.decode(kept))

    def run(self, steps: Generator[Need, torch.Tensor, Completion]):
        """Answer one infill's needs with this engine's forwards, in order; what `steps` returns."""
        try:
            need = next(steps)
            while True:
                if need.full:
                    hidden = self.forward.full(need.canvas, need.window, keep_cache=need.keep_cache)
                else:
                    hidden = self.forward.cached(need.canvas, need.window)
                need = steps.send(hidden)
        except StopIteration as done:
            return done.value

    def fill_ids(self, prefix_ids: list[int], suffix_ids: list[int], length: int,
                 sampler: SamplerConfig | None = None, mode: str = "multi") -> tuple[torch.Tensor, Stats]:
        """The denoising loop alone on token ids: `length` masked slots between `prefix_ids` and
        `suffix_ids`, one canvas (no growth, no text, no constraint). For benchmarks on random weights."""
        run = Run(Context(prefix_ids, suffix_ids, "", ""), sampler or self.sampler, mode, Stats())
        with torch.inference_mode():
            middle = self.run(self._denoise(run, torch.full((length,), self.mask_id, dtype=torch.long,
                                                            device=self.device)))
        run.stats.canvas = length
        return middle, run.stats

    def _ends(self, tokens: torch.Tensor, mode: str) -> torch.Tensor:
        """Which tokens end the completion: end-of-middle/eos; single-line also any token with a newline."""
        ends = torch.isin(tokens, self.stop_ids)
        return ends | self.newline[tokens] if mode == "single" else ends

    def _denoise(self, run: Run, middle: torch.Tensor) -> Generator[Need, torch.Tensor, torch.Tensor]:
        """`middle` (L,) with its masked slots filled, block after block (the forwards as `Need`s)."""
        ctx, cfg, mode = run.ctx, run.cfg, run.mode
        P, L = len(ctx.prefix_ids), middle.numel()
        shift = int(self.spec.logits_shift)
        canvas = torch.tensor(ctx.prefix_ids + [0] * L + ctx.suffix_ids, device=self.device)[None]  # (1, N)
        canvas[0, P:P + L] = middle
        window = torch.arange(P - shift, P + L - shift, device=self.device)  # slots whose outputs predict the middle
        slot = torch.arange(L, device=self.device)
        stale = True  # the cache holds no keys/values of this canvas yet
        for b0, b1 in blocks(L, block_size(cfg.block_size, mode)):
            so_far = slot < b1  # this block and the filled ones before it, which re-masking may reopen
            cap, steps = step_budget(cfg.max_steps, b1 - b0, L), 0
            while True:
                mid = canvas[0, P:P + L]
                masked = (mid == self.mask_id) & so_far  # (L,)
                n_masked = int(masked.sum())
                if n_masked == 0:
                    break
                if steps >= cap:  # the last step's floor commits every masked slot; only [MASK] committed stays
                    raise RuntimeError(f"internal error: {n_masked} slots still masked after the step cap "
                                       f"({cap} steps, slots {b0}-{b1} of {L}): a step committed the mask token")
                if run.cancel is not None:
                    run.cancel.check()
                full = not cfg.use_cache or stale or (steps == 0 and cfg.refresh_each_block)
                hidden = yield Need(full, canvas, window, keep_cache=cfg.use_cache)  # (L, D)
                stale = False
                run.stats.nfe += 1
                bans = {0: ctx.first_banned} if ctx.first_banned and masked[0] else {}  # it continues what was typed
                if not cfg.allow_empty:
                    for j in self._before_content(mid, masked):
                        bans[j] = bans.get(j, []) + self.end_ids[mode]
                if self.expand_id is not None and (run.expand_left <= 0 or L >= run.cap):
                    for j in masked.nonzero().squeeze(-1).tolist():
                        bans[j] = bans.get(j, []) + [self.expand_id]
                tokens, conf = self._propose(hidden, masked, cfg, run.gen, bans, run.rejected)
                need = min_commits(n_masked, cap - steps)
                eligible = self._end_in_order(tokens, masked, mode, need) if cfg.ordered_end else masked
                commit = select(conf, eligible, cfg.threshold, need, cfg.entropy_budget)
                mid = torch.where(commit, tokens, mid)
                mid = self._pad_after_end(mid, mode)
                steps += 1
                if self.expand_id is not None:
                    edited = self._edit(run, mid)
                    if edited is not None:  # a new canvas: the caller denoises it from a full forward
                        run.stats.steps += steps
                        return edited
                if run.constraint is not None and run.remask_left > 0 and steps < cap:
                    mid = self._remask(run, mid, b1)
                canvas[0, P:P + L] = mid
            run.stats.steps += steps
        return canvas[0, P:P + L].clone()

    def _propose(self, hidden: torch.Tensor, masked: torch.Tensor, cfg: SamplerConfig, gen,
                 bans: dict[int, list[int]], rejected: dict[int, set[int]]):
        """Candidate token and confidence of every slot (L,); only masked slots are meaningful.
        `bans`: token ids a slot may not get (an end too early, one that does not continue the typed
        word); `rejected`: ids the constraint refused there, kept from the slot while any other is left."""
        head = self.model.lm_head
        if self.kernels is None or cfg.temperature > 0 or type(head) not in (Linear, torch.nn.Linear):
            logits = head(hidden)  # (L, V); also any head that is not a plain projection (tests, quantized)
            logits[:, self.banned] = float("-inf")
            for slot in set(bans) | set(rejected):
                self._ban(logits[slot], bans.get(slot, ()), rejected.get(slot, ()))
            return propose(logits, cfg, gen)
        rows = masked.nonzero().squeeze(-1)  # (M,) greedy: the fused head scores masked rows only
        token, score = self.kernels.lm_head_score(hidden[rows], head.weight, self.ban_bias, cfg.confidence)
        tokens = torch.zeros(masked.shape, dtype=torch.long, device=hidden.device).index_copy_(0, rows, token)
        conf = torch.zeros(masked.shape, dtype=torch.float32, device=hidden.device).index_copy_(0, rows, score)
        redo = [slot for slot in set(bans) | set(rejected) if masked[slot]]  # the plain path for these slots,
        if redo:  # whose confidence is over what their bans leave, as the spec's
            logits = head(hidden[redo]) + self.ban_bias  # (R, V)
            for r, slot in enumerate(redo):
                self._ban(logits[r], bans.get(slot, ()), rejected.get(slot, ()))
            tokens[redo], conf[redo] = propose(logits, cfg, gen)
        return tokens, conf

    @staticmethod
    def _ban(logits: torch.Tensor, banned, rejected) -> None:
        """Ban ids in one slot's logits (V,): every `banned` one, and the `rejected` ones unless that
        would leave the slot no token at all (every one the slot may get was refused: the constraint
        cannot be met there, so the model's choice stands and the final cut judges it)."""
        if banned:
            logits[list(banned)] = float("-inf")
        if rejected:
            rejected = list(rejected)
            left = torch.isfinite(logits)
            left[rejected] = False
            if bool(left.any()):
                logits[rejected] = float("-inf")

    def _before_content(self, mid: torch.Tensor, masked: torch.Tensor) -> list[int]:
        """Masked slots before the first committed non-blank token: an end there leaves the completion blank."""
        content = (~masked & ~self.blank[mid]).nonzero()
        first = int(content[0]) if content.numel() else mid.numel()
        return masked[:first].nonzero().squeeze(-1).tolist()

    def _end_in_order(self, tokens: torch.Tensor, masked: torch.Tensor, mode: str, need: int) -> torch.Tensor:
        """Masked slots that may commit now: a slot proposing an end (single-line: also a newline) only if
        it is the leftmost masked one, unless that leaves fewer than the step cap needs.

        Padding is the likeliest guess for every slot past a short completion, so a plain confidence
        rule commits an end early and cuts the completion short; this decides the length left to right.
        """
        ends = self._ends(tokens, mode)
        leftmost = masked & (masked.long().cumsum(0) == 1)
        eligible = masked & (~ends | leftmost)
        return eligible if int(eligible.sum()) >= need else masked

    def _pad_after_end(self, mid: torch.Tensor, mode: str) -> torch.Tensor:
        """Masked slots after an end-of-middle token (or, single-line, after a newline) become padding."""
        end = self._ends(mid, mode)
        after = (end.long().cumsum(0) - end.long()) > 0  # strictly after the first end
        return torch.where(after & (mid == self.mask_id), torch.full_like(mid, self.eom_id), mid)

    def _remask(self, run: Run, mid: torch.Tensor, end: int) -> torch.Tensor:
        """`mid` with the committed slots before `end` that the constraint rejects masked again."""
        ids = mid.tolist()
        pieces = self.tokenizer.pieces()
        shown = [None if i == self.mask_id else ("" if i == self.eom_id else pieces[i]) for i in ids]
        bad = [i for i in run.constraint.remask(run.ctx.judged_prefix, shown, run.ctx.judged_suffix)
               if shown[i] is not None and i < end][:run.remask_left]
        if not bad:
            return mid
        run.remask_left -= len(bad)
        for i in bad:
            run.rejected.setdefault(i, set()).add(ids[i])
        run.stats.remasked += len(bad)
        mid = mid.clone()
        mid[torch.tensor(bad, device=mid.device)] = self.mask_id
        return mid

    def _edit(self, run: Run, mid: torch.Tensor) -> torch.Tensor | None:
        """DreamOn's edits of a step's commits: each <|expand|> becomes two masks, each end-of-middle goes
        (the padding after an end included); None when there is nothing to edit."""
        expand, delete = mid == self.expand_id, mid == self.eom_id
        if not bool((expand | delete).any()):
            return None
        run.expand_left -= int(expand.sum())
        copies = torch.where(expand, 2, torch.where(delete, 0, 1))
        edited = torch.repeat_interleave(mid, copies)
        return torch.where(edited == self.expand_id, torch.full_like(edited, self.mask_id), edited)

    def _kept(self, ids: list[int]) -> list[int]:
        """The middle's tokens up to the first end token (the mode's line cut is `infill.end`'s)."""
        stops = set(self.stop_ids.tolist()) | {self.mask_id}
        n = next((k for k, i in enumerate(ids) if i in stops), len(ids))
        return ids[:n]
