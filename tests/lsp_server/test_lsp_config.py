"""Settings: camelCase or snake_case, a `dllm` section, and bad keys reported without losing the rest."""

from dllm_complete.lsp_server.config import ServerConfig, enabled_for, merge


def test_defaults():
    cfg = ServerConfig()
    assert cfg.enabled and cfg.syntax and cfg.prefix_tokens > cfg.suffix_tokens


def test_valid_keys_apply_in_both_spellings_and_sections():
    cfg, warnings = merge(ServerConfig(), {"dllm": {"debounceMs": 40, "max_lines": 5, "model": "/m"}})
    assert (cfg.debounce_ms, cfg.max_lines, cfg.model) == (40, 5, "/m") and warnings == []


def test_unknown_and_invalid_keys_warn_and_keep_previous_values():
    base = ServerConfig(debounce_ms=10)
    cfg, warnings = merge(base, {"debounceMs": -5, "mode": "sideways", "colour": "red", "maxLines": 3})
    assert cfg.debounce_ms == 10 and cfg.mode == "auto" and cfg.max_lines == 3
    assert len(warnings) == 3 and any("colour" in w for w in warnings)


def test_non_object_settings():
    cfg, warnings = merge(ServerConfig(), ["nope"])
    assert cfg == ServerConfig() and warnings
    assert merge(ServerConfig(), None) == (ServerConfig(), [])


def test_languages():
    cfg = ServerConfig(languages=["python"])
    assert enabled_for(cfg, "python") and not enabled_for(cfg, "rust")
    assert not enabled_for(ServerConfig(), "plaintext")
