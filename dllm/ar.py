"""The autoregressive twin's decoder: FIM prompt, static KV cache, one token per forward pass, or
several where prompt lookup drafts them (`SamplerConfig.draft_tokens`) and one pass checks the draft.

Served with the same context budget, stop rules (end-of-middle, end of line in single-line mode,
token cap), attention op (`kernels`), CUDA-graph decision (`forward.py`) and result type as the
diffusion engine, so the two are compared fairly.
"""

from __future__ import annotations

import torch

from .checkpoint import Loaded
from .contract import CancelToken, Completion, Constraint, SamplerConfig
from .forward import choose, fast_path, packed_gemms
from .infill import Start, begin, end
from .sampler import propose
from .tokenizer import Tokenizer, end_ids


def fim_prompt(tokenizer: Tokenizer, start: Start) -> list[int]:
    """Prefix-suffix-middle prompt ids with FIM sentinels, around the context `begin` cut."""
    sp = tokenizer.special
    return [sp.fim_prefix] + start.ctx.prefix_ids + [sp.fim_suffix] + start.ctx.suffix_ids + [sp.fim_middle]


class ARDecoder:
    def __init__(self, loaded: Loaded, sampler: SamplerConfig | None = None, kernels: str = "auto",
                 graphs: str = "auto") -> None:
        self.loaded = loaded
        self.model, self.tokenizer, self.spec = loaded.model, loaded.tokenizer, loaded.spec
        self.sampler = sampler or SamplerConfig()
        self.context_tokens = loaded.spec.context_tokens
        self.device = self.model.embed_tokens.weight.device
        sp = self.tokenizer.special
        if None in (sp.fim_prefix, sp.fim_suffix, sp.fim_middle):
            raise ValueError("this tokenizer has no FIM sentinel tokens; it cannot drive an AR infill model")
        self.end_ids = {mode: end_ids(self.tokenizer, mode) for mode in ("single", "multi")}
        self.stops, self.newlines = set(self.tokenizer.stop_ids()), set(self.tokenizer.newline_ids())
        self.banned = torch.tensor(self.tokenizer.never_generated(self.model.cfg.vocab_size), dtype=torch.long,
                                   device=self.device)
        fast_path(self.model, kernels)  # the attention op and stacked projections (`forward.py`)
        # the one-token step: a CUDA graph where a probe at load shows it faster (`forward.py`)
        self.decode, self.graphs = choose(self.model, graphs, "ar")

    @property
    def info(self) -> dict:
        return {**self.loaded.info, "graphs": self.graphs, "packed_gemms": packed_gemms(self.model)}

    def infill(self, prefix: str, suffix: str, *, language: str | None = None, mode: str = "single",
               max_tokens: int | None = None, cancel: CancelToken | None = None,
               constraint: Constraint | None = None, sampler: SamplerConfig | None = None) -> Completion:
        """The middle between `prefix` and `suffix` (`contract.Infiller`), one token per model call, or the
        longest correct part of a prompt-lookup draft and the token after it. From any thread: calls
        run one at a time (`Loaded.busy`)."""
        with self.loaded.busy:
            return self._infill(prefix, suffix, language=language, mode=mode, max_tokens=max_tokens,
                                cancel=cancel, constraint=constraint, sampler=sampler)

    def _infill(self, prefix: str, suffix: str, *, language: str | None, mode: str, max_tokens: int | None,
                cancel: CancelToken | None, constraint: Constraint | None,
                sampler: SamplerConfig | None) -> Completion:
        self.loaded.threads.settle()  # torch's thread count for this call (`threads.py`)
        start = begin(self.tokenizer, prefix, suffix, mode, max_tokens, sampler or self.sampler, constraint,
                      self.context_tokens, self.model.cfg.max_seq_len)
        cfg, stats, ctx, cap = start.cfg, start.stats, start.ctx, start.cap
        stats.canvas = cap
        prompt = fim_prompt(self.tokenizer, start)
        gen = torch.Generator(self.device).manual_seed(cfg.seed) if cfg.temperature > 0 else None
        draft_cap = cfg.draft_tokens if cfg.temperature == 0 else 0  # drafts check greedy choices only
        n = len(prompt)
        pieces = self.tokenizer.pieces()
        out: list[int] = []
        draft: list[int] = []
        blank, done = True, False  # nothing but whitespace so far
        with torch.inference_mode():
            if cancel is not None:
                cancel.check()
            rows = self.decode.prefill(torch.tensor([prompt], device=self.device), n + cap)  # (1, V)
            stats.nfe += 1
            while not done:
                # row j of `rows` is the choice after out (+ draft[:j]); a wrong draft token ends the row run
                for j in range(rows.shape[0]):
                    logits = rows[j:j + 1]
                    logits[:, self.banned] = float("-inf")
                    if blank and not cfg.allow_empty:
                        logits[:, self.end_ids[mode]] = float("-inf")  # no end before the first non-blank token
                    if not out and ctx.first_banned:  # the first token continues what was typed
                        logits[:, ctx.first_banned] = float("-inf")
                    nxt = int(propose(logits, cfg, gen)[0])
                    if nxt in self.stops:
                        done = True
                        break
                    out.append(nxt)
                    blank = blank and not pieces[nxt].strip()
                    if (mode == "single" and nxt in self.newlines) or len(out) >= cap:
                        done = True
                        break
                    if j >= len(draft) or nxt != draft[j]:
                        break
                if done:
                    break
                if cancel is not None:
                    cancel.check()
                draft = lookup(prompt + out, min(draft_cap, cap - len(out) - 1)) if draft_cap else []
                pos = n + len(out) - 1
                if draft:
                    rows = self.decode.steps([out[-1]] + draft, pos)  # (1 + len(draft), V)
                else:
                    rows = self.decode.step(out[-1], pos)  # (1, V)
                stats.nfe += 1
        stats.steps, stats.tokens = len(out), len(out)
        return end(start, self.tokenizer.decode(out))


def lookup(ids: list[int], k: int, longest: int = 3) -> list[int]:
    """Up to `k` tokens that followed the latest earlier occurrence of the longest n-gram (n <= `longest`)
    that `ids` ends with: prompt-lookup decoding's draft (Saxena 2023). [] when nothing matches."""
    if k <= 0:
        return []
    for n in range(min(longest, len(ids) - 1), 0, -1):
        tail = ids[-n:]
        for i in range(len(ids) - n - 1, -1, -1):
            if ids[i:i + n] == tail:
                return ids[i + n:i + n + k]
    return []
