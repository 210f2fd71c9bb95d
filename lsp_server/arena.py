"""Copilot-Arena rounds in the editor: two backends answer the same request, the user's pick is the vote.

Owns the contestants (`arena.backends`: the server's own engine at any sampler setting, another local
checkpoint, a llama.cpp `/infill` or OpenAI `/v1/completions` endpoint), the draw of two per round,
running both on the same context at once with a time limit (a backend that fails, times out or
answers garbage shows as such, cannot be picked and never blocks the editor), the anonymous display order,
and the vote log: local JSONL, never sent anywhere, the code only with `logCode`. The wire format is
in editor-clients/README.md; `dllm-arena report` (`leaderboard.py`) ranks the votes.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dllm_complete.dllm.contract import SamplerConfig, describe

from . import postprocess, telemetry, trigger, window
from .engine_host import Job, engine_factory
from .remote import check_url
from .scheduler import Scheduler, Superseded

KINDS = ("dllm", "model", "infill", "openai")
# key_env: the environment variable holding the server's API key (a spec lands in logs: never the key)
HTTP_OPTIONS = {"infill": {"key_env"}, "openai": {"model", "key_env"}}
KEPT_ROUNDS = 256  # rounds a vote may still name


@dataclass(frozen=True)
class Contestant:
    label: str
    kind: str  # one of KINDS
    target: str | None  # checkpoint (model), URL (infill, openai)
    options: dict  # sampler overrides (dllm, model); {"model": name} (openai)
    spec: str


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def check_http(target: str, options: dict) -> None:
    """ValueError (the bare reason) where an HTTP backend's URL or `key_env` cannot work: the one check
    of the editor arena's and `bench.arena`'s HTTP backends."""
    check_url(target)
    if options.get("key_env") == "":
        raise ValueError("key_env names no environment variable")


def parse(spec: str) -> Contestant:
    """`[label@]kind[:target][?k=v&...]` -> Contestant; ValueError with a one-line reason."""
    label, at, body = spec.partition("@")
    if not at:
        label, body = "", spec
    body, _, query = body.partition("?")
    kind, _, target = body.partition(":")
    if kind not in KINDS:
        raise ValueError(f"arena backend {spec!r}: kind must be one of {', '.join(KINDS)}")
    if (kind == "dllm") != (not target):
        raise ValueError(f"arena backend {spec!r}: {'dllm takes no target' if kind == 'dllm' else kind + ' needs a target'}")
    options = {k: _value(v) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)}
    if kind in HTTP_OPTIONS:
        try:
            check_http(target, options)
        except ValueError as exc:
            raise ValueError(f"arena backend {spec!r}: {exc}") from None
    if kind in HTTP_OPTIONS and (unknown := sorted(set(options) - HTTP_OPTIONS[kind])):
        raise ValueError(f"arena backend {spec!r}: unknown option(s) {unknown}; allowed {sorted(HTTP_OPTIONS[kind])}")
    if kind in ("dllm", "model"):  # sampler settings: checked now, not at the first round
        try:
            SamplerConfig().with_overrides(options)
        except ValueError as exc:
            raise ValueError(f"arena backend {spec!r}: {exc}") from None
    return Contestant(label or body + (f"?{query}" if query else ""), kind, target or None, options, spec)


@dataclass
class Answer:
    text: str = ""
    status: str = "timeout"  # ok | empty | error | timeout
    latency_ms: float | None = None  # from the round's start
    error: str | None = None


@dataclass
class Round:
    id: str
    pair: tuple[Contestant, Contestant]  # draw order: a, b
    first: int  # which of the pair is shown first (0 = a)
    answers: tuple[Answer, Answer]
    language: str
    mode: str
    code: dict | None
    voted: bool = False
    started: float = field(default_factory=time.time)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: following it would carry the API key to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(req.full_url, code, f"redirected to {newurl}: not followed", headers, fp)


_OPENER = urllib.request.build_opener(_NoRedirect)


def _post(url: str, body: dict, timeout: float, key: str | None = None) -> dict:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    with _OPENER.open(request, timeout=timeout) as response:  # the user's own endpoint
        return json.loads(response.read())


def http_infill(c: Contestant, prefix: str, suffix: str, max_tokens: int, timeout: float) -> str:
    """The middle from a llama.cpp `/infill` or an OpenAI `/v1/completions` endpoint (ValueError on garbage)."""
    key = None
    if (name := c.options.get("key_env")) is not None:
        key = os.environ.get(str(name))
        if not key:
            raise ValueError(f"the environment variable {name} (key_env) holds no API key")
    if c.kind == "infill":
        out = _post(c.target.rstrip("/") + "/infill", {"input_prefix": prefix, "input_suffix": suffix,
                                                       "n_predict": max_tokens, "temperature": 0}, timeout, key)
        text = out.get("content") if isinstance(out, dict) else None
    else:
        out = _post(c.target.rstrip("/") + "/completions", {"model": c.options.get("model", ""), "prompt": prefix,
                                                            "suffix": suffix, "max_tokens": max_tokens,
                                                            "temperature": 0}, timeout, key)
        choices = out.get("choices") if isinstance(out, dict) else None
        text = choices[0].get("text") if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    if not isinstance(text, str):
        raise ValueError(f"no completion text in the answer of {c.target}")
    return text


def default_log() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "dllm-complete" / "arena-votes.jsonl"


class Arena:
    """Rounds between the configured backends; the engines it loads itself live on the model thread."""

    def __init__(self, host: Any, scheduler: Scheduler, rng: random.Random | None = None) -> None:
        self.host, self.scheduler = host, scheduler
        self.rng = rng or random.Random()
        self.rounds: OrderedDict[str, Round] = OrderedDict()
        self.engines: dict[tuple[str, str | None], Any] = {}  # (checkpoint, device) -> engine

    def play(self, doc: Any, offset: int, cfg: Any, arena: Any) -> Awaitable[dict]:
        """One round at `offset` of `doc` as it is now (called as the request is read): when awaited, the
        two suggestions in display order, names hidden."""
        pair = self.rng.sample([parse(s) for s in arena.backends], 2)
        ctx = window.build(doc.text, offset, cfg.prefix_tokens, cfg.suffix_tokens)
        mode = trigger.mode_in(ctx, cfg.mode, cfg.max_line_chars)
        rid = "r" + uuid.uuid4().hex[:16]
        line, character = doc.index.position_at(offset)
        language, eol = doc.language, doc.eol
        jobs = [Job.at(ctx, doc, mode, cfg) for _ in pair]  # one each: a constraint keeps state

        async def played() -> dict:
            t0, timeout = time.perf_counter(), arena.timeout_ms / 1000

            async def answer(slot: int, c: Contestant) -> Answer:
                try:
                    if c.kind in ("infill", "openai"):
                        raw = await asyncio.wait_for(asyncio.to_thread(http_infill, c, ctx.prefix, ctx.suffix,
                                                                       cfg.max_tokens(mode), timeout), timeout)
                    else:
                        raw = await asyncio.wait_for(self.scheduler.run(f"arena:{rid}:{slot}",
                                                                        lambda tok: self._local(c, jobs[slot], cfg, tok)),
                                                     timeout)
                except asyncio.TimeoutError:
                    return Answer(status="timeout", error=f"no answer within {arena.timeout_ms} ms")
                except Superseded:  # completions were switched off meanwhile
                    return Answer(status="error", error="stopped: completions are switched off")
                except Exception as exc:  # down, refused, garbage, a failed load: shown as failed, not pickable
                    return Answer(status="error", latency_ms=(time.perf_counter() - t0) * 1e3,
                                  error=describe(exc))
                texts = postprocess.suggestions([raw], ctx, mode=mode, eol=eol, max_lines=cfg.max_lines)
                return Answer(texts[0] if texts else "", "ok" if texts else "empty", (time.perf_counter() - t0) * 1e3)

            answers = tuple(await asyncio.gather(*(answer(slot, c) for slot, c in enumerate(pair))))
            code = {"prefix": ctx.prefix, "suffix": ctx.suffix} if arena.log_code else None
            r = Round(rid, tuple(pair), self.rng.randrange(2), answers, language, mode, code)
            self.rounds[rid] = r
            while len(self.rounds) > KEPT_ROUNDS:
                self.rounds.popitem(last=False)
            order = (r.first, 1 - r.first)
            at = {"line": line, "character": character}
            return {"round": rid, "timeoutMs": arena.timeout_ms, "suggestions": [
                {"slot": slot, "insertText": answers[i].text, "range": {"start": at, "end": at},
                 "latencyMs": answers[i].latency_ms, "status": answers[i].status} for slot, i in zip("AB", order)]}
        return played()

    def _local(self, c: Contestant, job: Job, cfg: Any, token: Any) -> str:
        """The raw middle from the server's engine or another local checkpoint (on the model thread), with
        the constraint a completion gets."""
        engine = self.host.engine if c.kind == "dllm" else self._engine(c.target, cfg.device)
        if engine is None:
            raise RuntimeError("model not loaded")
        sampler = engine.sampler.with_overrides({**cfg.sampler, **c.options} if c.kind == "dllm" else c.options)
        return job.run(engine, token, sampler).text

    def _engine(self, model: str, device: str | None) -> Any:
        key = (model, device)
        if key not in self.engines:
            self.engines[key] = engine_factory()(model=model, device=device)
        return self.engines[key]

    def vote(self, rid: Any, choice: Any, log_file: str | None) -> dict:
        """Record the user's pick of round `rid` ("A", "B" or "none"); ValueError for a bad or spent round."""
        if choice not in ("A", "B", "none"):
            raise ValueError(f"choice must be A, B or none, got {choice!r}")
        r = self.rounds.get(rid) if isinstance(rid, str) else None
        if r is None or r.voted:
            raise ValueError(f"no open arena round {rid!r}")
        shown = (r.first, 1 - r.first)
        winner = "none" if choice == "none" else "ab"[shown["AB".index(choice)]]
        a, b = r.answers
        if winner != "none" and (status := (a, b)["ab".index(winner)].status) in ("error", "timeout"):
            raise ValueError(f"slot {choice} cannot be picked: its backend failed ({status})")
        record = {"time": time.time(), "source": "editor", "round": r.id, "a": r.pair[0].label, "b": r.pair[1].label,
                  "first": "ab"[r.first], "winner": winner,
                  "latency_ms": {"a": a.latency_ms, "b": b.latency_ms}, "status": {"a": a.status, "b": b.status},
                  "errors": {"a": a.error, "b": b.error}, "chars": {"a": len(a.text), "b": len(b.text)},
                  "lines": {"a": len(a.text.splitlines()), "b": len(b.text.splitlines())},
                  "language": r.language, "mode": r.mode, "specs": {"a": r.pair[0].spec, "b": r.pair[1].spec},
                  "code": {**r.code, "a": a.text, "b": b.text} if r.code is not None else None}
        path = Path(log_file).expanduser() if log_file else default_log()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as exc:  # the round stays open: the vote can be given again once the log is writable
            raise ValueError(f"cannot write the vote log {path}: {exc.strerror or exc}") from None
        r.voted = True
        telemetry.get().info("arena.vote", round=r.id, winner=winner)
        return {"recorded": True, "winner": choice}
