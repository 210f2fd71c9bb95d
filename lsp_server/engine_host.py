"""The in-process engine as the server sees it: loading, sampler settings, syntax constraints.

Owns: finding the engine factory (`dllm.load`, or `DLLM_LSP_ENGINE=module:func` /
`path/to/file.py:func` for tests and benchmarks; with `remote`, a `remote.RemoteInfiller` for a
team server instead of a model), loading once per (model, device), applying the
server's sampler overrides to the engine's `SamplerConfig`, asking `grammars` for a constraint, and
running the infill calls of one request. The engine is reached only through `dllm.contract.Infiller`
(torch-free: importing this module loads no model code). All the methods that touch the engine run
on the model thread; nothing here knows about LSP.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from dllm_complete import grammars
from dllm_complete.dllm.contract import (CancelToken, Completion, Infiller, SamplerConfig, Stats, describe, first_line,
                                         unread, unread_reason, warm_up)

from .documents import uri_path

ENGINE_ENV = "DLLM_LSP_ENGINE"
RECONNECT_S = 5.0  # a team server that could not be reached is tried again, on a request, at most this often


class LoadError(Exception):
    """The model could not be loaded (message is one line, fit for the user)."""


@dataclass(frozen=True)
class Job:
    prefix: str
    suffix: str
    language: str
    path: str
    mode: str
    max_tokens: int
    alternatives: int = 1
    syntax: bool = True
    scope: bool = False
    document: str | None = None  # the whole file without the middle, for the scope check

    @classmethod
    def at(cls, ctx: Any, doc: Any, mode: str, cfg: Any, alternatives: int = 1) -> Job:
        """The job of a completion at the window `ctx` of document `doc`, under the server's settings `cfg`."""
        return cls(ctx.prefix, ctx.suffix, doc.language, uri_path(doc.uri), mode, cfg.max_tokens(mode),
                   alternatives=alternatives, syntax=cfg.syntax, scope=cfg.scope,
                   document=doc.text if cfg.scope else None)

    @functools.cached_property
    def constraint(self):
        """The syntax constraint, with the scope check where asked (`grammars.constraint_for`), built once:
        the engine denoises with it (with `syntax`) and the server ranks suggestions by its scope check."""
        if not (self.syntax or self.scope):
            return None
        return grammars.constraint_for(self.language, self.path, scope=self.scope, document=self.document)

    @property
    def denoising_constraint(self):
        """The constraint the engine denoises with: `constraint` where `syntax` asks, else None."""
        return self.constraint if self.syntax else None

    def run(self, engine: Infiller, cancel: CancelToken | None, sampler: SamplerConfig) -> Completion:
        """One infill of this job by `engine`, denoised with its constraint where `syntax` asks."""
        return engine.infill(self.prefix, self.suffix, language=self.language, mode=self.mode,
                             max_tokens=self.max_tokens, cancel=cancel,
                             constraint=self.denoising_constraint, sampler=sampler)


def engine_factory() -> Callable[..., Infiller]:
    """What loads an engine: `dllm.load`, or the `DLLM_LSP_ENGINE` factory (tests, benchmarks)."""
    spec = os.environ.get(ENGINE_ENV)
    if not spec:
        from dllm_complete import dllm
        return dllm.load
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py"):
        mod_spec = importlib.util.spec_from_file_location("dllm_lsp_engine_factory", target)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[mod_spec.name] = module
        mod_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, attr)


class EngineHost:
    def __init__(self, remote: str | None = None, api_key: str | None = None) -> None:
        self.engine: Infiller | None = None
        self.key: tuple[str | None, str | None] | None = None
        self.error: str | None = None
        self.remote, self.api_key = remote, api_key  # a `dllm-serve` URL: no local model
        self.retry_at = 0.0  # monotonic time from which an unreachable `remote` may be tried again
        self.scope_totals = {"scope_remasked": 0, "scope_checks": 0, "scope_cut": 0, "scope_ms": 0.0}  # all requests

    @property
    def ready(self) -> bool:
        return self.engine is not None

    def load(self, model: str | None, device: str | None) -> dict:
        """Load (or keep) the engine for (model, device), or connect to the `remote` server (whose model
        is the server's choice); raises LoadError with the reason."""
        if self.engine is not None and (self.key == (model, device) or self.remote is not None):
            return self.info
        self.engine, self.key, self.error = None, None, None
        if self.remote is not None:
            return self._connect(model, device)
        try:
            self.engine = engine_factory()(model=model, device=device)
        except Exception as exc:  # a bad directory, a missing file, an out-of-memory device...
            self.error = describe(exc)
            raise LoadError(self.error) from exc
        self.key = (model, device)
        return self.info

    def _connect(self, model: str | None, device: str | None) -> dict:
        """The team server at `remote` (model and device are the server's business)."""
        from .remote import RemoteInfiller

        try:
            engine = RemoteInfiller(self.remote, self.api_key)
            engine.connect()
        except Exception as exc:  # down, still loading after a minute, a wrong key...: the message names the URL
            self.error, self.retry_at = first_line(exc), time.monotonic() + RECONNECT_S
            raise LoadError(self.error) from exc
        self.engine, self.key = engine, (model, device)
        return self.info

    def reconnect_due(self) -> bool:
        """Whether a team server that could not be reached may be tried again now (on a request)."""
        return self.remote is not None and self.engine is None and time.monotonic() >= self.retry_at

    @property
    def info(self) -> dict:
        return dict(self.engine.info) if self.engine is not None else {}

    def check_sampler(self, overrides: dict) -> str | None:
        """None if `overrides` are valid sampler settings, else the one-line reason."""
        try:
            self.sampler(overrides)
        except ValueError as exc:
            return str(exc)
        return None

    def unread(self, overrides: dict) -> str | None:
        """The warning that settings in `overrides` have no effect on the loaded model (`contract.unread`), or None."""
        kind = self.info.get("kind")
        bad = unread(overrides, kind)
        return f"sampler settings without effect ({unread_reason(bad, kind)})" if bad else None

    def sampler(self, overrides: dict, alternative: int = 0) -> SamplerConfig:
        """The loaded engine's settings (the defaults before a load) with `overrides`; alternatives
        after the first are sampled, each with its own seed."""
        base = (self.engine.sampler if self.engine is not None else SamplerConfig()).with_overrides(overrides)
        return base.alternative(alternative) if alternative else base

    def infill(self, job: Job, token: CancelToken, overrides: dict) -> list[tuple[str, Stats]]:
        """Run the job's infill calls: (text, stats) for the best answer and its alternatives."""
        if self.engine is None and self.reconnect_due():
            self._connect(None, None)  # the team server was down or still starting: it may be up now
        if self.engine is None:
            raise LoadError(self.error or "model not loaded")
        out = []
        try:
            for i in range(job.alternatives):
                res = job.run(self.engine, token, self.sampler(overrides, i))
                out.append((res.text, res.stats))
        finally:
            for key, value in getattr(job.denoising_constraint, "stats", {}).items():
                self.scope_totals[key] = self.scope_totals.get(key, 0) + value
        return out

    def warm_up(self) -> tuple[float, float]:
        """Latency in ms of a first and a second small infill."""
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            warm_up(self.engine)
            times.append((time.perf_counter() - t0) * 1000)
        return times[0], times[1]
