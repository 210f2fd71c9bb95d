"""One completion request, whatever API it came by: the window at the cursor, the mode, the syntax
constraint and the post-processing as the language server does them, the alternatives asked for, then
the HTTP APIs' own cuts (stop strings, llama.cpp's `n_indent`). Pure over an `Infiller`-like batcher:
`submit(prefix, suffix, **options) -> concurrent.futures.Future[Completion]`."""

from __future__ import annotations

import asyncio
import dataclasses

from dllm_complete import grammars
from dllm_complete.dllm.contract import CancelToken, SamplerConfig, Stats
from dllm_complete.lsp_server import postprocess, trigger, window
from dllm_complete.lsp_server.positions import eol_of
from dllm_complete.lsp_server.config import DEFAULTS



@dataclasses.dataclass(frozen=True)
class Fill:
    prefix: str
    suffix: str
    language: str | None = None
    mode: str = "auto"  # auto | single | multi
    max_tokens: int | None = None
    n: int = 1  # the best answer, then sampled alternatives
    temperature: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    n_indent: int | None = None
    syntax: bool = True
    scope: bool = False  # the scope check joins the syntax constraint (`grammars.constraint_for`)
    document: str | None = None  # the whole file, where prefix + suffix is only a window of it
    whole: bool = False  # the prefix and suffix go to the engine as they are (a client that cut its own window)


@dataclasses.dataclass
class Answer:
    texts: list[str]  # one per alternative, shown as an editor shows it ("" if nothing useful)
    raws: list[str]  # the engine's middles
    stats: list[Stats]
    mode: str
    stopped: list[str | None]  # per alternative: the stop string that cut it, "" if `n_indent` did, else None


def samplers(base: SamplerConfig, fill: Fill) -> list[SamplerConfig]:
    """The settings of each alternative: the request's, then sampled ones with their own seeds (as the
    language server's several suggestions). Raises ValueError on a bad setting."""
    overrides = {k: v for k, v in (("temperature", fill.temperature), ("seed", fill.seed)) if v is not None}
    first = base.with_overrides(overrides)
    return [first] + [first.alternative(i) for i in range(1, fill.n)]


def cut(text: str, stop: tuple[str, ...], n_indent: int | None) -> tuple[str, str | None]:
    """`text` before its first stop string, and before its first later line indented less than
    `n_indent` (llama.cpp's rule); what cut it: the stop string, "" for the indent, None if nothing."""
    end, why = len(text), None
    for word in stop:
        at = text.find(word) if word else -1
        if 0 <= at < end:
            end, why = at, word
    if n_indent:
        offset = 0
        for i, line in enumerate(text[:end].split("\n")):
            if i and line.strip() and len(line) - len(line.lstrip(" \t")) < n_indent:
                end, why = offset - 1, ""  # the line break before it goes too
                break
            offset += len(line) + 1
    return text[:end], why


async def complete(batcher, base: SamplerConfig, fill: Fill, cancel: CancelToken, limit: int) -> Answer:
    """The request's completions; raises ValueError on bad settings, `Cancelled` when cancelled. A fill
    that names no token count gets the language server's cap for its mode, within `limit`."""
    text = fill.prefix + fill.suffix
    at = window.build(text, len(fill.prefix), DEFAULTS.prefix_tokens, DEFAULTS.suffix_tokens)
    mode = trigger.mode_in(at, fill.mode)
    settings = samplers(base, fill)
    prefix, suffix = (fill.prefix, fill.suffix) if fill.whole else (at.prefix, at.suffix)

    def constraints() -> list:  # one per alternative (each is stateful)
        return [grammars.constraint_for(fill.language, scope=fill.scope, document=fill.document or text)
                if fill.syntax else None for _ in settings]

    # the scope check reads the whole file: no work for the event loop; the syntax one alone is cheap
    checks = await asyncio.to_thread(constraints) if fill.syntax and fill.scope else constraints()
    futures = [batcher.submit(prefix, suffix, language=fill.language, mode=mode,
                              max_tokens=fill.max_tokens or min(DEFAULTS.max_tokens(mode), limit),
                              cancel=cancel, sampler=sampler, constraint=check)
               for sampler, check in zip(settings, checks)]
    try:
        results = await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))
    except BaseException:
        cancel.cancel()  # a failed or abandoned request stops its other alternatives too
        raise
    eol = eol_of(text)
    sent = {s.replace("\r\n", "\n"): s for s in fill.stop}  # each stop string as cut (LF) -> as the client sent it
    texts, stopped = [], []
    for res in results:  # cut with "\n" line ends (stop strings and n_indent count them so), then the file's
        shown = postprocess.suggestions([res.text], at, mode=mode, max_lines=DEFAULTS.max_lines)
        kept, why = cut(shown[0] if shown else "", tuple(sent), fill.n_indent)
        texts.append(kept.replace("\n", eol) if eol != "\n" else kept)
        stopped.append(sent.get(why, why))
    return Answer(texts, [r.text for r in results], [r.stats for r in results], mode, stopped)
