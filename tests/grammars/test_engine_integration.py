"""The real SyntaxConstraint driving the real denoising loop on the tiny trained checkpoint.

Two kinds of model: the tiny checkpoint as it is (whatever it writes, the loop must end within
the re-mask budget and leave the file no less valid), and the same checkpoint with a scripted output
head, so that a test can say exactly what the model proposes at each step (an adversary that always
writes closing brackets, or a model that first writes junk and then the right thing).
"""

from __future__ import annotations

import msgspec
import pytest
import torch

from dllm_complete import dllm
from dllm_complete.dllm.testing import tiny_checkpoint
from dllm_complete.grammars import constraint_for
from dllm_complete.grammars.languages import supported_names
from dllm_complete.grammars.truncate import python_error_offset

# (prefix, suffix) per grammar of the table: the cursor is where an expression goes
SNIPPETS = {
    "python": ("def f(x):\n    y = ", "\n    return y\n"),
    "javascript": ("function f(x) {\n  const y = ", ";\n  return y;\n}\n"),
    "typescript": ("function f(x: number): number {\n  const y = ", ";\n  return y;\n}\n"),
    "tsx": ("function F(x: number) {\n  const y = ", ";\n  return <div>{y}</div>;\n}\n"),
    "go": ("package main\n\nfunc f(x int) int {\n\ty := ", "\n\treturn y\n}\n"),
    "rust": ("fn f(x: i32) -> i32 {\n    let y = ", ";\n    y\n}\n"),
    "java": ("class A {\n  int f(int x) {\n    int y = ", ";\n    return y;\n  }\n}\n"),
    "c": ("int f(int x) {\n  int y = ", ";\n  return y;\n}\n"),
    "cpp": ("int f(int x) {\n  auto y = ", ";\n  return y;\n}\n"),
}
VALID = "x + 1"  # a right answer in every snippet
JUNK = ")"  # wrong in every snippet


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 64-wide model gains nothing from threads, and a busy machine loses
    yield dllm.load(str(tiny_checkpoint(tmp_path_factory.mktemp("tiny-syntax"))))
    torch.set_num_threads(threads)


def sampler(engine, **kw):
    return msgspec.structs.replace(engine.sampler, **kw)


class ScriptedHead(torch.nn.Module):
    """Stands in for the output head: round k of `rounds` (token ids per middle slot, then
    end-of-middle) is proposed at the k-th forward pass (the last round repeats), all with
    confidence ~1, so every proposal is committed at once. `fallback` ids are the next choices, in
    order, when the engine bans a slot's proposal."""

    def __init__(self, rounds: list[list[int]], vocab: int, eom: int, fallback: list[int] = ()) -> None:
        super().__init__()
        self.rounds, self.vocab, self.eom, self.calls = rounds, vocab, eom, 0
        self.fallback = list(fallback)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:  # (L, D) -> (L, V)
        ids = self.rounds[min(self.calls, len(self.rounds) - 1)]
        self.calls += 1
        L = hidden.shape[0]
        target = torch.tensor((ids + [self.eom] * L)[:L])  # (L,)
        logits = torch.full((L, self.vocab), -30.0)
        for rank, token in enumerate(self.fallback):
            logits[:, token] = 20.0 - rank
        logits[torch.arange(L), target] = 30.0
        return logits


@pytest.fixture()
def script(engine):
    """script(*texts): the model proposes texts[0] at the first step, texts[1] at the second...
    The model's own head comes back afterwards (by hand: pytest 9.2's monkeypatch.setattr would delete
    it on undo, since nn.Module keeps submodules in `_modules`, not in the instance `__dict__`)."""
    own = engine.model.lm_head

    def install(*texts: str, fallback: list[int] = (), lead: str = " ") -> ScriptedHead:
        # `lead`: the blank the prefix ends in, which the model writes again itself (token healing)
        rounds = [engine.tokenizer.encode(lead + t) for t in texts]
        head = ScriptedHead(rounds, engine.model.cfg.vocab_size, engine.eom_id, fallback)
        engine.model.lm_head = head
        return head

    yield install
    engine.model.lm_head = own


def no_worse(language: str, prefix: str, text: str, suffix: str) -> bool:
    """The finished file is at least as valid as the file without the completion."""
    if constraint_for(language).introduced(prefix, text, suffix):
        return False
    if language != "python":
        return True
    before, after = python_error_offset(prefix + suffix), python_error_offset(prefix + text + suffix)
    if before is None:
        return after is None
    return after is None or after >= (before if before < len(prefix) else before + len(text))


# ------------------------------------------------------------------------------------------ tests


def test_the_table_is_covered():
    assert set(SNIPPETS) == set(supported_names())


@pytest.mark.parametrize("language", sorted(SNIPPETS))
def test_adversary_is_stopped_by_the_budget(engine, script, language):
    """A model that always writes junk: re-masked until the budget is spent, then the loop ends."""
    prefix, suffix = SNIPPETS[language]
    junk = [i for i, p in enumerate(engine.tokenizer.pieces()) if p and set(p) <= set(")]};,")]
    head = script(JUNK * 3, fallback=junk)  # a re-masked slot's next choices are junk too
    budget, steps = len(junk) - 1, 16
    r = engine.infill(prefix, suffix, language=language, mode="single", constraint=constraint_for(language),
                      sampler=sampler(engine, remask_budget=budget, max_steps=steps))
    assert r.stats.remasked == budget  # each re-mask gets junk again, until none is left
    assert r.stats.steps <= steps and head.calls == r.stats.nfe <= steps
    assert JUNK not in r.text  # the final truncation drops what the budget could not fix
    assert no_worse(language, prefix, r.text, suffix)


def test_a_remasked_slot_gets_the_models_next_choice(engine, script):
    prefix, suffix = SNIPPETS["python"]
    one = engine.tokenizer.encode("1")
    assert len(one) == 1
    script(JUNK, fallback=one)  # the model insists on junk; its second choice is "1"
    r = engine.infill(prefix, suffix, language="python", mode="single", constraint=constraint_for("python"))
    assert r.text and set(r.text) == {"1"} and r.stats.remasked >= 1  # junk and the early end re-decided


@pytest.mark.parametrize("block", [2, 8])
@pytest.mark.parametrize("language", sorted(SNIPPETS))
def test_junk_is_remasked_and_rewritten(engine, script, language, block):
    """Junk at the first step, the right answer when asked again: the completion is the answer. With
    blocks of 2 the junk's error shows only once a later block ends the line: earlier blocks reopen."""
    prefix, suffix = SNIPPETS[language]
    n = len(engine.tokenizer.encode(" " + VALID))
    script(JUNK * (n - 1), VALID)  # the typed blank, then junk in every other slot of the answer
    r = engine.infill(prefix, suffix, language=language, mode="single", constraint=constraint_for(language),
                      sampler=sampler(engine, block_size=block))
    if language == "rust" and block == 2:  # no unary plus in Rust: the " +" after the junk was an error
        assert r.text == "x"  # too, and a slot is never offered a token it rejected
    else:
        assert r.text == VALID
    # in one block: every junk token and the padding after it (the middle ended in an error, so the
    # model may write more there); the count reaches the stats
    assert r.stats.remasked == n if block == 8 else r.stats.remasked >= 1
    script(JUNK * (n - 1), VALID)  # from the first round again
    without = engine.infill(prefix, suffix, language=language, mode="single", constraint=None,
                            sampler=sampler(engine, block_size=block))
    assert without.stats.remasked == 0 and without.text.startswith(JUNK * (min(n, block) - 1))


@pytest.mark.parametrize("language", sorted(SNIPPETS))
@pytest.mark.parametrize("mode", ["single", "multi"])
def test_random_model_terminates_within_budget(engine, language, mode):
    prefix, suffix = SNIPPETS[language]
    for seed in range(2):
        cfg = sampler(engine, remask_budget=5, max_steps=12, temperature=1.0, seed=seed)
        r = engine.infill(prefix, suffix, language=language, mode=mode, constraint=constraint_for(language),
                          sampler=cfg)
        assert 0 <= r.stats.remasked <= 5
        assert r.stats.steps <= 12 * 3  # at most three canvases (multi-line growth), each within the cap
        assert no_worse(language, prefix, r.text, suffix)


def test_zero_budget_means_no_remasking_but_still_truncation(engine, script):
    prefix, suffix = SNIPPETS["python"]
    script(VALID + " " + JUNK)
    r = engine.infill(prefix, suffix, language="python", mode="single", constraint=constraint_for("python"),
                      sampler=sampler(engine, remask_budget=0))
    assert r.stats.remasked == 0
    assert r.text == VALID  # the junk is cut off at the end


BROKEN = {
    "python": ("def broken(:\n    return [1, 2\n\n\ndef f(x):\n    y = ", "\n    return y\n"),
    "javascript": ("function broken( {\n  return [1, 2;\n}\n\nfunction f(x) {\n  const y = ",
                   ";\n  return y;\n}\n"),
    "go": ("package main\n\nfunc broken( {\n\treturn [1, 2\n}\n\nfunc f(x int) int {\n\ty := ",
           "\n\treturn y\n}\n"),
    "rust": ("fn broken( {\n    vec![1, 2\n}\n\nfn f(x: i32) -> i32 {\n    let y = ", ";\n    y\n}\n"),
}


@pytest.mark.parametrize("language", sorted(BROKEN))
def test_file_broken_before_the_cursor_still_gets_its_completion(engine, script, language):
    prefix, suffix = BROKEN[language]
    assert constraint_for(language).language is not None
    script(VALID)
    r = engine.infill(prefix, suffix, language=language, mode="single", constraint=constraint_for(language))
    assert r.text == VALID and r.stats.remasked == 0  # the user's errors are never blamed on it


@pytest.mark.parametrize("language", sorted(BROKEN))
def test_file_broken_before_the_cursor_with_a_random_model(engine, language):
    prefix, suffix = BROKEN[language]
    cfg = sampler(engine, remask_budget=6, max_steps=12, temperature=1.0)
    r = engine.infill(prefix, suffix, language=language, mode="multi", constraint=constraint_for(language),
                      sampler=cfg)
    assert r.stats.remasked <= 6
    assert no_worse(language, prefix, r.text, suffix)


def test_half_typed_line_at_the_cursor_is_completed(engine, script):
    prefix, suffix = "def f(x):\n    return max(x, ", "\n\n\ndef g():\n    pass\n"
    script("1)")
    r = engine.infill(prefix, suffix, language="python", mode="single", constraint=constraint_for("python"))
    assert r.text == "1)" and r.stats.remasked == 0


PY_FILES = [
    ("def add(a, b):\n    ", "\n\n\ndef sub(a, b):\n    return a - b\n"),
    ("class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n        ",
     "\n        return len(self.items)\n"),
    ("import os\n\n\ndef main(argv):\n    for arg in argv:\n", "\n    return 0\n"),
    ("x = [1, 2,\n", "\n"),  # broken before the cursor
]


@pytest.mark.parametrize("prefix,suffix", PY_FILES)
def test_finalize_leaves_python_files_no_less_valid(engine, prefix, suffix):
    for seed in range(3):
        cfg = sampler(engine, temperature=1.5, seed=seed, max_steps=8, threshold=0.5)
        r = engine.infill(prefix, suffix, language="python", mode="multi", constraint=constraint_for("python"),
                          sampler=cfg)
        assert no_worse("python", prefix, r.text, suffix), repr(r.text)


def test_finalize_cuts_a_python_block_at_its_last_valid_line(engine, script):
    prefix, suffix = "def f(x):\n", "\n\n\ndef g():\n    pass\n"
    script("    y = x + 1\n    z = (y,\n    return z", lead="")
    r = engine.infill(prefix, suffix, language="python", mode="multi", constraint=constraint_for("python"),
                      sampler=sampler(engine, remask_budget=0))
    assert r.text == "    y = x + 1"
    assert compile(prefix + r.text + suffix, "<t>", "exec") is not None


@pytest.mark.parametrize("language,prefix,suffix", [
    ("go", "package main\n\nfunc f(x int) int {\n\ty := ", "\n\treturn y\n}\n"),
    ("python", "def f(x):\n    y = ", "\n    return y\n"),
    ("javascript", "function f(x) {\n  const y = ", "\n  return y;\n}\n"),
])
def test_junk_before_a_fragment_broken_only_by_the_empty_hole(language, prefix, suffix):
    """`y := ` + `\\n\\treturn y`: the file without the middle has an error at "return"; junk in the
    middle grows that error backwards, and is still the middle's fault."""
    c = constraint_for(language)
    assert c.introduced(prefix, ")))", suffix)
    assert c.remask(prefix, [")", ")", ")", ""], suffix) == [0, 1, 2, 3]
    assert not c.introduced(prefix, VALID, suffix) and c.remask(prefix, ["x", " +", " 1", ""], suffix) == []
    assert c.finalize(prefix, ")))", suffix) == ""


@pytest.mark.parametrize("language", sorted(SNIPPETS))
def test_needs_text_where_the_hole_breaks_the_file(language):
    prefix, suffix = SNIPPETS[language]
    c = constraint_for(language)
    assert c.needs_text(prefix, suffix)  # `y = ` with nothing after it
    assert not c.needs_text(prefix + VALID, suffix)  # the line is complete
    if language in BROKEN:  # the user's own errors elsewhere do not count
        assert not c.needs_text(BROKEN[language][0] + VALID, BROKEN[language][1])


@pytest.mark.parametrize("decoder", ["diffusion", "ar"])
def test_fill_broken_does_not_leave_a_needed_hole_empty(engine, tmp_path, script, decoder):
    """A model whose first choice is to end at once writes something with fill_broken where the file
    without a completion is broken at the cursor, and only there."""
    prefix, suffix = SNIPPETS["python"]
    fallback = engine.tokenizer.encode("x")
    if decoder == "ar":
        engine = dllm.load(str(tiny_checkpoint(tmp_path, kind="ar")))
        engine.model.lm_head = ScriptedHead([[]], engine.model.cfg.vocab_size, engine.tokenizer.special.eom,
                                            fallback)
    else:
        script("", fallback=fallback)
    fill = sampler(engine, fill_broken=True)
    assert engine.infill(prefix, suffix, mode="single", sampler=fill).text == ""  # no constraint: no say
    assert engine.infill(prefix, suffix, mode="single", constraint=constraint_for("python")).text == ""
    r = engine.infill(prefix, suffix, mode="single", constraint=constraint_for("python"), sampler=fill)
    assert r.text.startswith("x")
    fine = ("def f(x):\n    y = 1\n    ", "\n    return y\n")
    assert engine.infill(*fine, mode="single", constraint=constraint_for("python"), sampler=fill).text == ""
