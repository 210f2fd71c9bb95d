"""Completion backends for the benchmarks, each built from one spec string.

    dllm:<dir>[?threshold=0.7&budget=0.5&steps=16&block=16&ordered=0|1&empty=0|1&fill=0|1&syntax=0|1&cache=0|1&refresh=0|1
               &canvas=16&context=..&confidence=entropy&scope=0|1&dtype=float32|bfloat16]  diffusion engine (any family,
                                                                  docs/models.md; scope: grammars/scope.py, on with syntax)
    ar:<dir>[?empty=0|1&fill=0|1&draft=8&canvas=..&context=..&syntax=0|1&dtype=...]  our AR twin, static KV cache;
                                                                  draft: prompt-lookup tokens per call
    hf:<dir>[?syntax=0|1]                                               the AR twin through transformers
    infill:<url>[?timeout=30&key_env=VAR]        a llama.cpp-compatible server's /infill (llama-server, dllm-serve)
    openai:<url>[?model=NAME&timeout=30&key_env=VAR]  an OpenAI-compatible /completions with `suffix` (url: .../v1);
                                                 key_env: the environment variable holding the API key

`attention=grouped|sdpa` (dllm and ar) overrides the attention op chosen at load (`kernels/dispatch.py`);
`bucket=N` the eager forwards' padding of canvases and prompts to multiples of N (1: none; `dllm/forward.py`);
`pack=0` serves every GEMM from its plain weight (`kernels/packed.py`).
`<dir>` is a checkpoint directory, or `default` for the packaged model. A spec may carry a label:
`fast@dllm:default?threshold=0.5`; otherwise the label is the spec without its directory (or URL).
An HTTP backend is asked as the editor arena asks it (`lsp_server.arena.http_infill`: greedy, the
mode's token cap, no syntax constraint of ours: the server applies its own), its answer cut to its
first line in single-line mode as our engines cut theirs; its latency includes the HTTP round trip
and it reports no model calls.

Every backend answers `complete(prefix, suffix, mode, max_tokens) -> (text, stats)` (mode single, multi,
or auto: what `lsp_server.trigger` decides for an explicit request there) where stats holds
latency_ms (wall time of the call), nfe (model forward passes), tokens, steps and timings_ms.
The `hf` backend builds exactly the prompt `dllm.ARDecoder` builds (same context trimming with
`dllm.canvas.build_context`, same FIM sentinels) and applies the same stop rules (end-of-middle/eos,
the token cap, single-line: stop after the first token holding a newline and cut there), decoding
greedily with `generate`: on the same checkpoint the two must return the same text. Knows nothing of
tasks or scoring.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dllm_complete.dllm.contract import AR_ONLY, DIFFUSION_ONLY, SamplerConfig

KINDS = ("dllm", "ar", "hf", "infill", "openai")
HTTP_PARAMS = {"infill": {"timeout", "key_env"}, "openai": {"model", "timeout", "key_env"}}
DLLM_PARAMS = {"threshold": ("threshold", float), "budget": ("entropy_budget", float), "steps": ("max_steps", int), "block": ("block_size", int),
               "cache": ("use_cache", lambda v: _flag(v)),
               "refresh": ("refresh_each_block", lambda v: _flag(v)), "confidence": ("confidence", str),
               "canvas": ("canvas", int),
               "context": ("context_tokens", int), "ordered": ("ordered_end", lambda v: _flag(v)),
               "empty": ("allow_empty", lambda v: _flag(v)), "fill": ("fill_broken", lambda v: _flag(v)),
               "draft": ("draft_tokens", int)}
LOAD_PARAMS = {"dtype", "attention", "bucket", "pack"}  # how our engines load (default: `dllm.load`'s choice); attention=grouped|sdpa
COMMON_PARAMS = {"syntax", "scope"}


class Backend(Protocol):
    label: str
    spec: str

    def complete(self, prefix: str, suffix: str, mode: str, max_tokens: int | None) -> tuple[str, dict]: ...

    @property
    def info(self) -> dict: ...


@dataclass(frozen=True)
class Spec:
    kind: str
    model: str | None  # None = the packaged default model
    params: dict = field(default_factory=dict)
    label: str = ""
    text: str = ""


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected 0 or 1, got {value!r}")


def parse_spec(text: str) -> Spec:
    """`[label@]kind:dir[?k=v&...]` -> Spec; ValueError with a one-line reason when malformed."""
    head = text.split(":", 1)[0]
    label, body = (head.split("@", 1)[0], text[len(head.split("@", 1)[0]) + 1:]) if "@" in head else ("", text)
    kind, sep, rest = body.partition(":")
    if kind not in KINDS or not sep:
        raise ValueError(f"backend spec {text!r}: expected one of {', '.join(k + (':URL' if k in HTTP_PARAMS else ':DIR') for k in KINDS)}")
    path, _, query = rest.partition("?")
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    params = dict(pairs)
    if len(params) < len(pairs):
        raise ValueError(f"backend spec {text!r}: a parameter is given twice")
    unread = {"dllm": AR_ONLY, "ar": DIFFUSION_ONLY}.get(kind)
    allowed = COMMON_PARAMS | ({k for k, (f, _) in DLLM_PARAMS.items() if f not in unread} if unread else set())
    allowed |= LOAD_PARAMS if kind in ("dllm", "ar") else set()
    if kind in HTTP_PARAMS:
        from dllm_complete.lsp_server.arena import check_http

        allowed = HTTP_PARAMS[kind]
        try:
            check_http(path, params)
        except ValueError as exc:
            raise ValueError(f"backend spec {text!r}: {exc}") from None
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"backend spec {text!r}: unknown parameter(s) {unknown}; allowed {sorted(allowed)}")
    model = None if path in ("", "default") else path
    spec = Spec(kind, model, params, label or (kind + (f"?{query}" if query else "")), text)
    check_values(spec)
    return spec


def check_values(spec: Spec) -> None:
    """ValueError naming the spec for a value its backend would refuse only later (after a model loads)."""
    try:
        if spec.kind in ("dllm", "ar"):
            SamplerConfig().with_overrides(sampler_overrides(spec))
            if spec.params.get("attention") not in (None, "grouped", "sdpa"):
                raise ValueError(f"attention must be grouped or sdpa, got {spec.params['attention']!r}")
            if "bucket" in spec.params:
                int(spec.params["bucket"])
        for name in ("syntax", "scope", "pack"):
            if name in spec.params:
                _flag(spec.params[name])
        if "timeout" in spec.params and not float(spec.params["timeout"]) > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {spec.params['timeout']!r}")
    except ValueError as exc:
        raise ValueError(f"backend spec {spec.text!r}: {exc}") from None


def sampler_overrides(spec: Spec) -> dict:
    """The spec's diffusion-sampler settings as `dllm.SamplerConfig` field values."""
    return {DLLM_PARAMS[k][0]: DLLM_PARAMS[k][1](v) for k, v in spec.params.items() if k in DLLM_PARAMS}


def syntax_on(spec: Spec) -> bool:
    """Whether the syntax constraint is used: on by default for the diffusion engine, off for AR."""
    return _flag(spec.params.get("syntax", "1" if spec.kind == "dllm" else "0"))


def resolve_model(model: str | None) -> Path:
    from dllm_complete import dllm

    return Path(model).expanduser() if model else Path(dllm.DEFAULT_MODEL)


def _stats_dict(stats: Any, latency_ms: float) -> dict:
    return {"latency_ms": latency_ms, "nfe": stats.nfe, "tokens": stats.tokens, "steps": stats.steps,
            "context_tokens": stats.context_tokens, "remasked": getattr(stats, "remasked", 0),
            "timings_ms": dict(stats.timings_ms)}


def decided(prefix: str, suffix: str, mode: str) -> str:
    """`mode`, with auto decided as the language server decides it for an explicit request."""
    if mode != "auto":
        return mode
    from dllm_complete.lsp_server.trigger import mode_at

    return mode_at(prefix + suffix, len(prefix))


def scope_on(spec: Spec) -> bool:
    """Whether the scope check joins the syntax constraint: with it, as in the product, unless `scope=0`."""
    return syntax_on(spec) and _flag(spec.params.get("scope", "1"))


def _constraint(syntax: bool, scope: bool = False, document: str | None = None):
    if not syntax:
        return None
    from dllm_complete import grammars

    return grammars.constraint_for("python", scope=scope, document=document)


# ---------------------------------------------------------------------------------- our engines


class EngineBackend:
    """`dllm.load` engines: the diffusion Engine at given sampler settings, or the ARDecoder."""

    def __init__(self, spec: Spec, engine: Any) -> None:
        self.spec, self.label, self.engine = spec.text, spec.label, engine
        self.sampler = engine.sampler.with_overrides(sampler_overrides(spec))
        self.syntax, self.scope = syntax_on(spec), scope_on(spec)
        self.attention = spec.params.get("attention")
        self.kind = spec.kind

    @property
    def info(self) -> dict:
        import msgspec

        attention = {"attention": self.attention} if self.attention else {}  # the override `make` applied
        return {"label": self.label, "spec": self.spec, "backend": self.kind, **self.engine.info, **attention,
                "sampler": msgspec.structs.asdict(self.sampler), "syntax": self.syntax, "scope": self.scope}

    def complete(self, prefix: str, suffix: str, mode: str, max_tokens: int | None) -> tuple[str, dict]:
        t0 = time.perf_counter()
        mode = decided(prefix, suffix, mode)
        constraint = _constraint(self.syntax, self.scope, prefix + suffix)
        res = self.engine.infill(prefix, suffix, language="python", mode=mode, max_tokens=max_tokens,
                                 constraint=constraint, sampler=self.sampler)
        stats = _stats_dict(res.stats, (time.perf_counter() - t0) * 1e3)
        return res.text, {**stats, **getattr(constraint, "stats", {})}


# ------------------------------------------------------------------------------- transformers


class HFBackend:
    """The AR twin through `transformers`: AutoModelForCausalLM + greedy `generate`."""

    def __init__(self, spec: Spec, device: str | None = None) -> None:
        import torch
        import transformers
        from dllm_complete.dllm.checkpoint import choose_device, describe, stored_dtype

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        self.spec, self.label, self.kind = spec.text, spec.label, "hf"
        self.path = resolve_model(spec.model)
        cfg = json.loads((self.path / "config.json").read_text())
        if cfg.get("dllm", {}).get("kind") != "ar":
            raise ValueError(f"hf backend needs a causal AR checkpoint; {self.path} is not one")
        _, self.tokenizer, model_spec = describe(self.path)
        self.context_tokens = model_spec.context_tokens
        self.name = cfg.get("dllm", {}).get("name", self.path.name)
        self.device, dtype = choose_device(device, None, stored_dtype(self.path))  # dllm.load's rule
        self.model = transformers.AutoModelForCausalLM.from_pretrained(self.path, dtype=dtype).to(self.device).eval()
        self.stops = self.tokenizer.stop_ids()
        self.newline = torch.zeros(self.model.config.vocab_size, dtype=torch.bool, device=self.device)  # (V,)
        self.newline[self.tokenizer.newline_ids()] = True
        self.syntax, self.scope = syntax_on(spec), scope_on(spec)
        self._torch = torch

    @property
    def info(self) -> dict:
        p = next(self.model.parameters())
        return {"label": self.label, "spec": self.spec, "backend": "hf", "model": self.name, "path": str(self.path),
                "device": str(p.device), "dtype": str(p.dtype).removeprefix("torch."),
                "params": sum(t.numel() for t in self.model.parameters()), "syntax": self.syntax, "scope": self.scope}

    def begin(self, prefix: str, suffix: str, mode: str, max_tokens: int | None):
        """(the call's start, prompt ids): exactly what `ARDecoder.infill` builds."""
        from dllm_complete.dllm.ar import fim_prompt
        from dllm_complete.dllm.infill import begin

        start = begin(self.tokenizer, prefix, suffix, mode, max_tokens, SamplerConfig(),
                      _constraint(self.syntax, self.scope, prefix + suffix), self.context_tokens)
        return start, fim_prompt(self.tokenizer, start)

    def complete(self, prefix: str, suffix: str, mode: str, max_tokens: int | None) -> tuple[str, dict]:
        import transformers

        from dllm_complete.dllm.infill import end

        torch = self._torch
        mode = decided(prefix, suffix, mode)
        start, ids = self.begin(prefix, suffix, mode, max_tokens)
        ctx, cap, newline = start.ctx, start.cap, self.newline

        class StopAtNewline(transformers.StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):  # (B, T) -> (B,) bool
                return newline[input_ids[:, -1]]

        stopping = transformers.StoppingCriteriaList([StopAtNewline()] if mode == "single" else [])
        gen_cfg = transformers.GenerationConfig(max_new_tokens=cap, do_sample=False, num_beams=1,
                                                eos_token_id=self.stops, pad_token_id=self.stops[0],
                                                suppress_tokens=self.tokenizer.never_generated(),
                                                # as our decoder: the first token continues what was typed
                                                begin_suppress_tokens=ctx.first_banned or None)
        with torch.inference_mode():
            inputs = torch.tensor([ids], device=self.device)
            seq = self.model.generate(inputs, attention_mask=torch.ones_like(inputs), generation_config=gen_cfg,
                                      stopping_criteria=stopping)
        new = seq[0, len(ids):].tolist()
        out = new[:next((i for i, t in enumerate(new) if t in self.stops), len(new))]
        # one forward pass per generated token, the stop token included
        start.stats.nfe, start.stats.tokens, start.stats.steps = len(new), len(out), len(out)
        res = end(start, self.tokenizer.decode(out))
        return res.text, _stats_dict(res.stats, res.stats.timings_ms["total"])


# ----------------------------------------------------------------------------------------- HTTP


class HTTPBackend:
    """A completion server over HTTP: llama.cpp's `/infill` or an OpenAI `/completions` with `suffix`."""

    def __init__(self, spec: Spec) -> None:
        from dllm_complete.lsp_server.arena import Contestant

        self.spec, self.label, self.kind, self.url = spec.text, spec.label, spec.kind, spec.model
        self.timeout = float(spec.params.get("timeout", 30))
        options = {k: spec.params[k] for k in ("model", "key_env") if k in spec.params}
        self.contestant = Contestant(spec.label, spec.kind, spec.model, options, spec.text)

    @property
    def info(self) -> dict:
        return {"label": self.label, "spec": self.spec, "backend": self.kind, "url": self.url,
                "model": self.contestant.options.get("model"), "syntax": None, "scope": None}

    def complete(self, prefix: str, suffix: str, mode: str, max_tokens: int | None) -> tuple[str, dict]:
        from dllm_complete.dllm.schedule import canvas_sizes
        from dllm_complete.lsp_server.arena import http_infill

        t0 = time.perf_counter()
        mode = decided(prefix, suffix, mode)
        text = http_infill(self.contestant, prefix, suffix, canvas_sizes(mode, max_tokens)[1], self.timeout)
        if mode == "single":
            text = text.split("\n", 1)[0]
        return text, {"latency_ms": (time.perf_counter() - t0) * 1e3, "nfe": None, "tokens": None, "steps": None}


# ------------------------------------------------------------------------------------ factory


def make(spec: str | Spec, engines: dict | None = None, device: str | None = None) -> Backend:
    """A backend for a spec. `engines` (a dict the caller keeps) shares one loaded model per directory."""
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    if spec.kind == "hf":
        return HFBackend(spec, device)
    if spec.kind in HTTP_PARAMS:
        return HTTPBackend(spec)
    from dllm_complete import dllm

    dtype, attention = spec.params.get("dtype"), spec.params.get("attention")
    bucket, pack = spec.params.get("bucket"), spec.params.get("pack")
    key = (spec.model, device, dtype, attention, bucket, pack)
    engine = engines.get(key) if engines is not None else None
    if engine is None:
        engine = dllm.load(spec.model, device=device, dtype=dtype)
        if attention is not None:  # the kernel choice made at load, overridden (kernels/dispatch.py)
            from dllm_complete.kernels.attention_torch import grouped_attention

            engine.model.use_attention(grouped_attention if attention == "grouped" else None)
        if bucket is not None:  # the eager forwards' padding, overridden
            from dllm_complete.dllm import forward

            if engine.spec.kind == "ar":
                engine.decode = forward.EagerDecode(engine.model, int(bucket))
            else:
                engine.forward = forward.EagerForward(engine.model, bucket_size=int(bucket))
        if pack == "0":  # every GEMM from its plain weight
            from dllm_complete.kernels import packed

            for weight in engine.model.gemm_weights():
                packed.forget(weight)
        if engines is not None:
            engines[key] = engine
    want = "ar" if spec.kind == "ar" else "diffusion"
    if engine.spec.kind != want:
        raise ValueError(f"backend {spec.text!r}: {resolve_model(spec.model)} holds a {engine.spec.kind} model")
    return EngineBackend(spec, engine)
