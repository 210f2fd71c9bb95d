"""Typing through a suggestion hits the cache; anything else misses; memory stays bounded."""

from dllm_complete.lsp_server.cache import SuggestionCache

URI = "file:///a.py"
BEFORE, AFTER = "def f(x):\n    return ", "\n\nprint(f(2))\n"


def test_type_through_hits_until_the_suggestion_is_used_up():
    cache = SuggestionCache()
    cache.put(URI, BEFORE + AFTER, len(BEFORE), ["x * 2", "x + x"])
    for typed, rest in [("", ["x * 2", "x + x"]), ("x", [" * 2", " + x"]), ("x *", [" 2"])]:
        text = BEFORE + typed + AFTER
        assert cache.get(URI, text, len(BEFORE) + len(typed)) == rest
    assert cache.get(URI, BEFORE + "x * 2" + AFTER, len(BEFORE) + 5) is None
    assert cache.hits == 3 and cache.misses == 1


def test_diverging_or_edited_context_misses():
    cache = SuggestionCache()
    cache.put(URI, BEFORE + AFTER, len(BEFORE), ["x * 2"])
    assert cache.get(URI, BEFORE + "y" + AFTER, len(BEFORE) + 1) is None  # typed something else
    assert cache.get(URI, "# new\n" + BEFORE + AFTER, len(BEFORE) + 6) is None  # text before moved
    assert cache.get(URI, BEFORE + "\n" + AFTER, len(BEFORE)) is None  # text after changed
    assert cache.get("file:///other.py", BEFORE + AFTER, len(BEFORE)) is None


def test_lru_and_character_bounds():
    cache = SuggestionCache(max_documents=3, per_document=2, max_chars=10_000)
    for i in range(10):
        for j in range(5):
            cache.put(f"file:///{i}.py", BEFORE + AFTER, len(BEFORE) - j, ["x" * 100])
    assert len(cache) <= 6 and cache.chars <= 10_000
    assert cache.get("file:///0.py", BEFORE + AFTER, len(BEFORE)) is None
    assert cache.get("file:///9.py", BEFORE + AFTER, len(BEFORE) - 4) is not None
    cache.clear()
    assert len(cache) == 0 and cache.chars == 0
