"""Server settings: one msgspec Struct, defaults in one place, validated key by key.

Settings come from `initializationOptions` and `workspace/didChangeConfiguration` (either bare or
under a `dllm` section), in camelCase or snake_case. Each key is checked on its own: an unknown key
or an invalid value is reported as a warning and the previous value is kept, so one typo never
throws away the rest. Sampler settings are checked later against the engine's own SamplerConfig
(the engine owns those names); here they only need to be a mapping.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

from .trigger import MAX_LINE_CHARS

Positive = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]


class ArenaConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Copilot-Arena mode (`arena.py`): `dllm/arena` pairs two of `backends`, votes go to `log_file`."""
    enabled: bool = False
    backends: list[str] = []  # `[label@]kind[:target][?k=v]`: dllm, model:DIR, infill:URL, openai:URL?model=M
    timeout_ms: Annotated[int, msgspec.Meta(ge=100, le=60_000)] = 4000
    log_file: str | None = None  # None = $XDG_STATE_HOME/dllm-complete/arena-votes.jsonl
    log_code: bool = False  # also log the prefix, suffix and both suggestions


class ServerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    enabled: bool = True  # global switch: False cancels model work in flight and starts none
    model: str | None = None  # checkpoint directory; None = the packaged default model
    device: str | None = None  # "cpu", "cuda", "cuda:1", ...; None = the engine decides
    sampler: dict[str, Any] = {}  # overrides of the engine's SamplerConfig fields
    prefix_tokens: Positive = 1536
    suffix_tokens: NonNegative = 512
    max_tokens_single: Positive = 48
    max_tokens_multi: Positive = 160
    max_lines: Positive = 12
    mode: Literal["auto", "single", "multi"] = "auto"
    alternatives: Annotated[int, msgspec.Meta(ge=1, le=8)] = 3  # for invoked triggers
    debounce_ms: Annotated[int, msgspec.Meta(ge=0, le=5000)] = 0
    languages: list[str] = []  # enabled languageIds; empty = all
    disabled_languages: list[str] = msgspec.field(default_factory=lambda: ["plaintext", "markdown", "log"])
    syntax: bool = True  # pass a tree-sitter constraint to the engine
    scope: bool = True  # re-mask names that resolve to nothing (grammars/scope.py, names.py)
    max_document_chars: Positive = 8_000_000
    max_line_chars: Positive = MAX_LINE_CHARS
    arena: ArenaConfig = ArenaConfig()

    def max_tokens(self, mode: str) -> int:
        """The token cap a completion in `mode` ("single" or "multi") asks for."""
        return self.max_tokens_multi if mode == "multi" else self.max_tokens_single


DEFAULTS = ServerConfig()  # what an editor's server uses untold; the CLI and dllm-serve follow it
FIELDS = {f.encode_name: f.name for f in msgspec.structs.fields(ServerConfig)}


def _camel(key: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)


def section(settings: Any) -> Any:
    """The settings object itself, unwrapping a `{"dllm": {...}}` section if there is one."""
    if isinstance(settings, dict) and isinstance(settings.get("dllm"), dict):
        return settings["dllm"]
    return settings


def merge(base: ServerConfig, settings: Any) -> tuple[ServerConfig, list[str]]:
    """`base` updated with every valid key of `settings`; warnings for the rest."""
    settings = section(settings)
    if settings is None:
        return base, []
    if not isinstance(settings, dict):
        return base, [f"settings must be an object, got {type(settings).__name__}; defaults kept"]
    current = msgspec.to_builtins(base)
    warnings = []
    for key, value in settings.items():
        name = _camel(str(key))
        if name not in FIELDS:
            warnings.append(f"unknown setting {key!r} ignored")
            continue
        trial = {**current, name: value}
        try:
            msgspec.convert(trial, ServerConfig)
        except msgspec.ValidationError as exc:
            warnings.append(f"invalid setting {key!r}: {exc}; keeping {current.get(name)!r}")
            continue
        current = trial
    return msgspec.convert(current, ServerConfig), warnings


def enabled_for(cfg: ServerConfig, language: str) -> bool:
    if language in cfg.disabled_languages:
        return False
    return not cfg.languages or language in cfg.languages
