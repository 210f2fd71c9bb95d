"""The request bodies of the HTTP APIs and their answers: llama.cpp's `/infill`, OpenAI's
`/v1/completions`, our `/dllm/infill`. Unknown fields are ignored (as llama.cpp and OpenAI do); fields
that would mislead if ignored (a grammar, log-probabilities, a LoRA adapter we do not have) are
refused. Limits are checked in `Limits.check`. Pure: no model, no server."""

from __future__ import annotations

import dataclasses
import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from dllm_complete.dllm.contract import Stats

from .fill import Answer, Fill


class BadRequest(Exception):
    """A request we refuse: its HTTP status and one line for the user."""

    def __init__(self, message: str, status: int = 400, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


def error_body(status: int, message: str, kind: str) -> dict:
    """llama.cpp's error object, which OpenAI clients read too (`message`, `type`, `code`)."""
    return {"error": {"code": status, "message": message, "type": kind, "param": None}}


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strict=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_the_default(cls, data: Any) -> Any:
        """A field sent as null gets its default (the `openai` client sends `suffix=None` as null;
        llama.cpp reads null as absent)."""
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data

    def misleading(self) -> str | None:
        """Why a field asked for would mislead if it were ignored (a 400), else None."""
        return None


class Chunk(_Body):
    text: str
    filename: str | None = None


class InfillRequest(_Body):
    """llama.cpp `POST /infill` as llama.vscode and llama.vim send it. `input_extra` (other files'
    chunks) is accepted and not used: the default model's 512-token context has no room for it;
    `samplers`, `top_k`, `top_p`, `cache_prompt`, `id_slot`, `t_max_*` are accepted and ignored."""
    input_prefix: str
    input_suffix: str
    prompt: str = ""  # the cursor's line before the cursor: it follows input_prefix
    input_extra: list[Chunk] = []
    n_predict: int = -1  # -1: the mode's default; 0: nothing generated (a client's cache warm-up)
    n_cmpl: int = 1
    n: int | None = None  # llama.cpp's alias of n_cmpl
    stop: list[str] | str = []
    n_indent: int = 0
    temperature: float | None = None
    seed: int | None = None
    stream: bool = False
    response_fields: list[str] = []
    language: str | None = None  # ours: the language id (python, javascript, ...) for the syntax constraint
    mode: Literal["auto", "single", "multi"] = "auto"  # ours
    scope: bool | None = None  # ours: re-mask names that resolve to nothing (default: the server's --scope)
    grammar: str | None = None
    json_schema: Any = None
    n_probs: int = 0
    logit_bias: Any = None
    lora: list[Any] = []

    def misleading(self) -> str | None:
        if self.grammar or self.json_schema:
            return ("grammar / json_schema: constrained sampling by a grammar is not supported "
                    "(the syntax constraint is by `language`)")
        if self.n_probs:
            return "n_probs: token probabilities are not available from a diffusion model's parallel steps"
        if self.logit_bias:
            return "logit_bias is not supported"
        if self.lora:
            return "lora: this server has no LoRA adapters"
        return None


class LlamaCompletionRequest(InfillRequest):
    """llama.cpp `POST /completion`: the `prompt` alone, as Continue sends it (a fill-in-the-middle
    template of `FIM_TEMPLATES` is read as prefix and suffix; other text is all prefix)."""
    input_prefix: str = ""
    input_suffix: str = ""


class StreamOptions(_Body):
    include_usage: bool = False  # OpenAI's: a last chunk with no choices and the request's usage


class CompletionRequest(_Body):
    """OpenAI `POST /v1/completions` with `suffix` (fill in the middle)."""
    model: str | None = None
    prompt: str | list[str]
    suffix: str = ""
    max_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    n: int = 1
    stop: list[str] | str | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    language: str | None = None  # ours, as in /infill
    mode: Literal["auto", "single", "multi"] = "auto"  # ours
    scope: bool | None = None  # ours, as in /infill
    logprobs: int | None = None
    echo: bool = False
    best_of: int | None = None
    logit_bias: Any = None

    @field_validator("prompt", mode="before")
    @classmethod
    def _text_prompt(cls, prompt: Any) -> Any:
        if isinstance(prompt, list) and prompt and not all(isinstance(p, str) for p in prompt):
            raise ValueError("token-id prompts are not supported: send the text")
        return prompt

    def misleading(self) -> str | None:
        if self.logprobs is not None:
            return "logprobs: token log-probabilities are not available from a diffusion model's parallel steps"
        if self.echo:
            return "echo is not supported"
        if self.best_of is not None and self.best_of > self.n:
            return "best_of > n is not supported"
        if self.logit_bias:
            return "logit_bias is not supported"
        if isinstance(self.prompt, list) and len(self.prompt) != 1:
            return "prompt: one prompt per request"
        return None


class NativeRequest(_Body):
    """Ours (`dllm-lsp --remote`): one infill as `Infiller.infill` takes it, the raw middle back."""
    prefix: str
    suffix: str
    language: str | None = None
    mode: Literal["single", "multi"] = "single"
    max_tokens: int | None = None
    sampler: dict[str, Any] = {}
    syntax: bool = True
    scope: bool | None = None  # default: the server's --scope
    document: str | None = None  # the whole file without the middle, for the scope check (`dllm-lsp --remote`)


@dataclasses.dataclass(frozen=True)
class Limits:
    body_bytes: int = 1 << 20
    context_chars: int = 200_000  # prefix and suffix, each
    max_tokens: int = 512
    n: int = 4
    per_client: int = 4  # requests in flight per client
    in_flight: int = 256  # requests in flight in all (a client id is the client's to choose)

    def check(self, fill: Fill) -> None:
        for name, text in (("prefix", fill.prefix), ("suffix", fill.suffix), ("document", fill.document or "")):
            if len(text) > self.context_chars:
                raise BadRequest(f"{name}: {len(text)} characters, more than the limit of {self.context_chars}")
        if fill.max_tokens is not None and not 1 <= fill.max_tokens <= self.max_tokens:
            raise BadRequest(f"max_tokens / n_predict: must be between 1 and {self.max_tokens}, got {fill.max_tokens}")
        if not 1 <= fill.n <= self.n:
            raise BadRequest(f"n / n_cmpl: must be between 1 and {self.n}, got {fill.n}")
        if fill.n_indent is not None and not 0 <= fill.n_indent <= 10_000:
            raise BadRequest(f"n_indent: must be between 0 and 10000, got {fill.n_indent}")


def stops(stop: list[str] | str | None) -> tuple[str, ...]:
    return (stop,) if isinstance(stop, str) else tuple(stop or ())


def infill_fill(req: InfillRequest, language: str | None, scope: bool = False, cap: int = Limits.max_tokens) -> Fill:
    """As llama.cpp reads them: `n_predict` past the server's `cap` is lowered to it, `seed` -1 is a
    random seed, a temperature below 0 is greedy decoding."""
    n = req.n if req.n is not None else req.n_cmpl
    seed = random.randrange(2 ** 63) if req.seed == -1 else req.seed
    temperature = None if req.temperature is None else max(0.0, req.temperature)
    return Fill(req.input_prefix + req.prompt, req.input_suffix, req.language or language, req.mode,
                None if req.n_predict < 0 else min(req.n_predict, cap), n, temperature, seed,
                stops(req.stop), req.n_indent or None, scope=scope if req.scope is None else req.scope)


# Fill-in-the-middle prompt templates that clients send as one `prompt` with no `suffix` (llama.vscode's
# OpenAI mode, Continue): (before the prefix, before the suffix, before the middle).
FIM_TEMPLATES = (("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),  # Qwen2.5-Coder, StarCoder2
                 ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),  # StarCoder, SantaCoder
                 ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),  # DeepSeek-Coder
                 ("<PRE> ", " <SUF>", " <MID>"))  # Code Llama


def split_fim(prompt: str) -> tuple[str, str] | None:
    """(prefix, suffix) of a prompt that is one of `FIM_TEMPLATES`: it starts with the prefix tag and ends
    with the middle tag, split at the last suffix tag between (a prefix may mention the tags; a suffix
    that does is misread, and a template after other text, e.g. Qwen's repository context, is not one)."""
    text = prompt.strip()
    for pre, suf, mid in FIM_TEMPLATES:
        if text.startswith(pre) and text.endswith(mid):
            body = text[len(pre):len(text) - len(mid)]
            hole = body.rfind(suf)
            if hole >= 0:
                return body[:hole], body[hole + len(suf):]
    return None


def completion_fill(req: CompletionRequest, language: str | None, scope: bool = False) -> Fill:
    prompt = req.prompt[0] if isinstance(req.prompt, list) else req.prompt
    prefix, suffix = (split_fim(prompt) or (prompt, "")) if not req.suffix else (prompt, req.suffix)
    return Fill(prefix, suffix, req.language or language, req.mode, req.max_tokens, req.n,
                req.temperature, req.seed, stops(req.stop), scope=scope if req.scope is None else req.scope)


def timings(stats: Stats) -> dict:
    """llama.cpp's `timings`: the context as the prompt, the denoising as the prediction (0, not NaN,
    where a count is 0)."""
    ms = stats.timings_ms or {}
    prompt_ms, predicted_ms = ms.get("context", 0.0), ms.get("model", 0.0) + ms.get("finalize", 0.0)
    n_prompt, n_predicted = stats.context_tokens, stats.tokens

    def per(n, t):
        return (t / n if n else 0.0), (1e3 * n / t if t else 0.0)
    prompt_per_token, prompt_per_second = per(n_prompt, prompt_ms)
    predicted_per_token, predicted_per_second = per(n_predicted, predicted_ms)
    return {"cache_n": 0, "prompt_n": n_prompt, "prompt_ms": prompt_ms, "prompt_per_token_ms": prompt_per_token,
            "prompt_per_second": prompt_per_second, "predicted_n": n_predicted, "predicted_ms": predicted_ms,
            "predicted_per_token_ms": predicted_per_token, "predicted_per_second": predicted_per_second}


def stop_type(stopped: str | None, stats: Stats) -> str:
    """llama.cpp's: "word" for a stop string, "limit" for the token cap or `n_indent`, else "eos"."""
    return "word" if stopped else "limit" if stopped == "" or stats.capped else "eos"


def infill_results(answer: Answer | None, fill: Fill, model: dict, settings: list[dict]) -> list[dict]:
    """llama.cpp's result object per alternative (`answer` None: nothing was asked, n_predict 0);
    `settings`: each alternative's generation settings."""
    out = []
    for i in range(fill.n if answer is not None else 1):
        stats = answer.stats[i] if answer is not None else Stats()
        text = answer.texts[i] if answer is not None else ""
        stopped = answer.stopped[i] if answer is not None else None
        out.append({"index": i, "content": text, "tokens": [], "id_slot": 0, "stop": True,
                    "model": model.get("model", ""), "tokens_predicted": stats.tokens,
                    "tokens_evaluated": stats.context_tokens,
                    "generation_settings": {**settings[i], "mode": answer.mode if answer else fill.mode},
                    "prompt": "", "has_new_line": "\n" in text, "truncated": False,
                    "stop_type": stop_type(stopped, stats), "stopping_word": stopped or "", "tokens_cached": 0,
                    "timings": timings(stats)})
    return out


def pick_fields(result: dict, fields: list[str]) -> dict:
    """llama.cpp's `response_fields`: only these paths ("timings/prompt_n"), keyed by the path."""
    picked = {}
    for path in fields:
        value: Any = result
        for key in path.split("/"):
            value = value.get(key) if isinstance(value, dict) and key else None
        if value is not None:
            picked[path] = value
    return picked
