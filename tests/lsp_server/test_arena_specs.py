"""Arena backend specs (`arena.backends`): what each one names, and one-line errors for bad ones."""

import pytest

from dllm_complete.lsp_server.arena import parse


@pytest.mark.parametrize("spec, expected", [
    ("dllm", ("dllm", "dllm", None, {})),
    ("fast@dllm?threshold=0.5&block_size=0", ("fast", "dllm", None, {"threshold": 0.5, "block_size": 0})),
    ("ar@model:ar-code-small", ("ar", "model", "ar-code-small", {})),
    ("infill:http://127.0.0.1:8012", ("infill:http://127.0.0.1:8012", "infill", "http://127.0.0.1:8012", {})),
    ("gpt@openai:https://h/v1?model=m", ("gpt", "openai", "https://h/v1", {"model": "m"})),
])
def test_backend_specs(spec, expected):
    c = parse(spec)
    assert (c.label, c.kind, c.target, c.options) == expected


@pytest.mark.parametrize("spec", ["llama:http://x", "dllm:somewhere", "model", "infill:ftp://x", "openai:localhost:8000",
                                  "dllm?x=1", "b@dllm?threshold=2", "ar@model:ar-code-small?temperature=-1"])
def test_bad_backend_specs_are_one_line_errors(spec):
    with pytest.raises(ValueError) as info:
        parse(spec)
    assert spec in str(info.value) and "\n" not in str(info.value)


def test_a_bad_backend_keeps_the_previous_arena_settings():
    from dllm_complete.lsp_server.service import Service

    shown = []
    svc = Service(lambda kind, text: shown.append(text))
    try:
        svc.apply_settings({"arena": {"enabled": True, "backends": ["dllm", "x@model:m"]}}, load=False)
        svc.apply_settings({"arena": {"enabled": True, "backends": ["dllm", "bogus:x"]}}, load=False)
        assert svc.config.arena.backends == ["dllm", "x@model:m"]
        assert "bogus:x" in shown[-1] and "\n" not in shown[-1]
    finally:
        svc.close(5)


def test_an_http_backend_never_follows_a_redirect_with_its_key(monkeypatch, http_stub):
    import urllib.error

    from dllm_complete.lsp_server.arena import http_infill

    seen = []

    def elsewhere(method, path, headers, body):  # must never see the key
        seen.append(headers.get("Authorization"))
        return 200, {}, b""

    other = http_stub(elsewhere)
    first = http_stub(lambda *request: (302, {"Location": f"{other}/steal"}, b""))  # sends the client elsewhere
    monkeypatch.setenv("ARENA_TEST_KEY", "s3cret")
    with pytest.raises(urllib.error.HTTPError, match="not followed"):
        http_infill(parse(f"infill:{first}?key_env=ARENA_TEST_KEY"), "x = ", "\n", 8, 5.0)
    assert seen == []
