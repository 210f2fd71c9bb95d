"""The denoising loop: parity with the slow reference, stopping rules, cancellation, constraints."""

import random

import msgspec
import pytest
import torch

from dllm_complete import dllm
from dllm_complete.dllm.engine import Engine
from dllm_complete.dllm.reference import reference_infill
from dllm_complete.dllm.schedule import step_budget
from dllm_complete.dllm.testing import SAMPLE_CODE, tiny_checkpoint


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _holes(n, seed=0):
    rng = random.Random(seed)
    for _ in range(n):
        cut = rng.randrange(20, len(SAMPLE_CODE) - 20)
        yield SAMPLE_CODE[:cut], SAMPLE_CODE[cut:]


def _with(engine, **kw):
    engine.sampler = msgspec.structs.replace(engine.sampler, **kw)
    return engine


def _plain(engine):
    """The engine's model with the plain head (logits + softmax), the reference's arithmetic (the fused
    head is held to the plain one in tests/kernels/test_engine_fused.py)."""
    return Engine(engine.loaded, sampler=engine.sampler, kernels="off")


def _outcome(completion):
    """What parity compares: the text and how it was made."""
    s = completion.stats
    return completion.text, s.nfe, s.steps, s.tokens, s.canvas


def _exercise_the_rules(refs):
    """Guards: reference runs on which a broken rule shows (so that parity with them means something)."""
    assert len({r.completion.text for r in refs}) > 1  # the answers differ
    assert any(r.completion.stats.tokens < r.completion.stats.canvas for r in refs)  # some end before the cap
    commits = [c for r in refs for c in r.commits]
    assert any(n > need for _, need, n in commits)  # the threshold commits more than the floor at some step
    assert any(n == need < masked for masked, need, n in commits)  # and only the floor at another


@pytest.mark.parametrize("block_size", [0, 8])
@pytest.mark.parametrize("mode", ["single", "multi"])
def test_uncached_engine_equals_reference(engine, mode, block_size):
    engine = _plain(engine)
    runs = {}
    for ordered_end in (False, True):
        _with(engine, use_cache=False, block_size=block_size, threshold=0.3, ordered_end=ordered_end)
        runs[ordered_end] = [(engine.infill(p, s, mode=mode), reference_infill(engine, p, s, mode=mode))
                             for p, s in _holes(4)]
        for got, ref in runs[ordered_end]:
            assert _outcome(got) == _outcome(ref.completion)
    _exercise_the_rules([ref for pairs in runs.values() for _, ref in pairs])
    ends_anywhere, in_order = ([_outcome(ref.completion) for _, ref in runs[k]] for k in (False, True))
    assert ends_anywhere != in_order  # ordered_end decides at least one hole


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_an_entropy_budget_commits_as_the_reference(engine, mode):
    engine = _with(_plain(engine), use_cache=False, block_size=0, entropy_budget=2.5)
    pairs = [(engine.infill(p, s, mode=mode), reference_infill(engine, p, s, mode=mode)) for p, s in _holes(4)]
    for got, ref in pairs:
        assert _outcome(got) == _outcome(ref.completion)
    commits = [c for _, ref in pairs for c in ref.commits]
    assert any(n > need for _, need, n in commits)  # the budget commits more than the floor at some step
    assert any(n == need < masked for masked, need, n in commits)  # and only the floor at another


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_a_shifted_model_equals_the_reference(tmp_path, mode):
    # outputs at position i predict token i + 1 (a model adapted from an AR one, Dream's layout)
    engine = _with(_plain(dllm.load(str(tiny_checkpoint(tmp_path, logits_shift=True)))), use_cache=False)
    assert engine.spec.logits_shift
    refs = []
    for prefix, suffix in _holes(4):
        refs.append(reference_infill(engine, prefix, suffix, mode=mode))
        assert _outcome(engine.infill(prefix, suffix, mode=mode)) == _outcome(refs[-1].completion)
    _exercise_the_rules(refs)


def test_cached_engine_agreement_with_reference_is_measured(engine):
    # the cache keeps the context's keys and values from the first step, an approximation: on the tiny
    # model the whole multi-line text agrees on about a fifth of these holes (4 of 20 at seed 1)
    engine = _with(_plain(engine), threshold=0.3)
    holes = list(_holes(20, seed=1))
    agree = sum(engine.infill(p, s, mode="multi").text == reference_infill(engine, p, s, mode="multi").completion.text
                for p, s in holes)
    print(f"cached engine agrees with the reference on {agree}/{len(holes)} holes")
    assert agree >= len(holes) // 10


def test_cache_saves_work_per_step(engine):
    # The cached step recomputes only the middle; outputs match the uncached path on this model.
    prefix, suffix = SAMPLE_CODE[:120], SAMPLE_CODE[120:]
    cached = _with(engine, use_cache=True).infill(prefix, suffix, mode="single")
    uncached = _with(engine, use_cache=False).infill(prefix, suffix, mode="single")
    assert cached.text == uncached.text and cached.stats.nfe == uncached.stats.nfe


@pytest.mark.parametrize("shift", [False, True])
def test_blocks_may_step_on_the_canvas_cache(tmp_path, shift):
    # refresh_each_block=False: one full forward per canvas, also when the canvas grew and its first
    # blocks are already committed (the previous canvas's cache is then too small, and stale)
    from dllm_complete.dllm.schedule import canvas_sizes, grow

    engine = dllm.load(str(tiny_checkpoint(tmp_path / "m", logits_shift=shift)))
    full, calls = engine.forward.full, []
    engine.forward.full = lambda *a, **k: calls.append(1) or full(*a, **k)
    _with(engine, block_size=8, threshold=0.3, refresh_each_block=False)
    grown = 0
    for head in (engine.model.lm_head, BiasedHead(engine.model.lm_head, _bias(engine, _line_ends(engine), -1e4))):
        engine.model.lm_head = head  # the model's own, then one that never ends a line (every canvas grows)
        for prefix, suffix in _holes(3, seed=2):
            for mode in ("single", "multi"):
                calls.clear()
                out = engine.infill(prefix, suffix, mode=mode)
                length, cap = canvas_sizes(mode, None)
                canvases = [length]
                while canvases[-1] < out.stats.canvas:
                    canvases.append(grow(canvases[-1], cap))
                assert len(calls) == len(canvases)
                grown += len(canvases) > 1
    assert grown >= 6


@pytest.mark.parametrize("kind", ["diffusion", "ar"])
def test_one_engine_called_from_several_threads_answers_as_from_one(tiny_dir, tiny_ar_dir, kind):
    from concurrent.futures import ThreadPoolExecutor

    engine = dllm.load(str(tiny_dir if kind == "diffusion" else tiny_ar_dir))
    holes = list(_holes(6)) * 4
    alone = [engine.infill(p, s, mode="multi").text for p, s in holes]
    with ThreadPoolExecutor(4) as pool:  # unguarded, calls shared the key/value cache and crossed
        together = list(pool.map(lambda hole: engine.infill(*hole, mode="multi").text, holes))
    assert together == alone


def test_greedy_is_deterministic_and_seeded_sampling_repeats(engine):
    prefix, suffix = SAMPLE_CODE[:80], SAMPLE_CODE[80:]
    assert engine.infill(prefix, suffix).text == engine.infill(prefix, suffix).text
    _with(engine, temperature=1.0, seed=7)
    assert engine.infill(prefix, suffix).text == engine.infill(prefix, suffix).text


def test_step_cap_and_threshold(engine):
    prefix, suffix = SAMPLE_CODE[:60], SAMPLE_CODE[60:]
    r = _with(engine, max_steps=4, threshold=1.0).infill(prefix, suffix, mode="single", max_tokens=16)
    assert r.stats.steps <= 4 and r.stats.nfe <= 4
    r = _with(engine, max_steps=32, threshold=0.0, block_size=0).infill(prefix, suffix, mode="single", max_tokens=16)
    assert r.stats.nfe == 1  # every slot passes a zero threshold in the first step
    r = _with(engine, block_size=8).infill(prefix, suffix, mode="single", max_tokens=16)
    assert r.stats.nfe <= 2  # one step per block of 8


def test_end_of_middle_ends_early(tiny_dir):
    engine = dllm.load(str(tiny_dir))
    # end-of-middle the overwhelmingly likely token everywhere
    engine.model.lm_head = BiasedHead(engine.model.lm_head, _bias(engine, [engine.eom_id], 1e4))
    r = engine.infill("x = ", "\n", mode="multi")
    assert r.text == "" and r.stats.nfe == 1 and r.stats.canvas == 48


def test_single_line_stops_at_newline(engine):
    _with(engine, threshold=0.0)
    for prefix, suffix in _holes(6, seed=3):
        assert "\n" not in engine.infill(prefix, suffix, mode="single").text


def test_multi_line_canvas_grows_when_full(engine):
    r = engine.infill("def f():\n", "", mode="multi", max_tokens=96)
    assert r.stats.canvas in (48, 72, 96)
    ended = r.stats.tokens < r.stats.canvas
    assert ended or r.stats.canvas == 96


class BiasedHead(torch.nn.Module):
    """The model's output head plus a fixed bias per token id; counts its calls."""

    def __init__(self, head: torch.nn.Module, bias: torch.Tensor) -> None:
        super().__init__()
        self.head, self.bias, self.calls = head, bias, 0

    def forward(self, hidden):
        self.calls += 1
        return self.head(hidden) + self.bias


def _bias(decoder, ids, value: float) -> torch.Tensor:
    """(V,) `value` at `ids`, 0 elsewhere."""
    return torch.zeros(decoder.model.cfg.vocab_size).index_fill_(0, torch.tensor(list(ids), dtype=torch.long), value)


def _line_ends(engine) -> list[int]:
    return engine.newline.nonzero().squeeze(-1).tolist() + engine.stop_ids.tolist()


def test_single_line_canvas_grows_only_while_the_line_goes_on(tiny_dir):
    engine = dllm.load(str(tiny_dir))
    head = engine.model.lm_head
    engine.model.lm_head = BiasedHead(head, _bias(engine, _line_ends(engine), -1e4))
    r = engine.infill("x = ", "\n", mode="single")  # no token can end the line
    assert (r.stats.canvas, r.stats.tokens) == (32, 32)
    engine.model.lm_head = BiasedHead(head, _bias(engine, engine.stop_ids.tolist(), 1e4))
    assert engine.infill("x = ", "\n", mode="single").stats.canvas == 16  # ended in the first canvas


def test_cancel_between_steps(engine):
    token = dllm.CancelToken()

    class CancelAfterTwo:
        calls = 0

        def remask(self, prefix, pieces, suffix):
            self.calls += 1
            if self.calls == 2:
                token.cancel()
            return []

        def needs_text(self, prefix, suffix):
            return False

        def finalize(self, prefix, middle, suffix):
            return middle

    _with(engine, threshold=1.0)
    with pytest.raises(dllm.Cancelled):
        engine.infill("def f():\n", "", mode="multi", cancel=token, constraint=CancelAfterTwo())
    token2 = dllm.CancelToken()
    token2.cancel()
    with pytest.raises(dllm.Cancelled):
        engine.infill("x = ", "", cancel=token2)


def test_adversarial_constraint_terminates_within_budget(engine):
    class RejectAll:
        def remask(self, prefix, pieces, suffix):
            return [i for i, p in enumerate(pieces) if p is not None]

        def needs_text(self, prefix, suffix):
            return False

        def finalize(self, prefix, middle, suffix):
            return middle

    _with(engine, remask_budget=20)
    r = engine.infill("def f():\n    return ", "\n", mode="single", constraint=RejectAll())
    assert r.stats.remasked <= 20


def test_constraint_finalize_is_applied(engine):
    class Cut:
        def remask(self, prefix, pieces, suffix):
            return []

        def needs_text(self, prefix, suffix):
            return False

        def finalize(self, prefix, middle, suffix):
            return middle[:1]

    r = _with(engine, threshold=0.0).infill("def f():\n    return ", "\n", mode="single", constraint=Cut())
    assert len(r.text) <= 1


def test_stats_and_info(engine):
    r = engine.infill("a = 1\n", "\n", mode="single", max_tokens=8)
    assert r.stats.nfe >= 1 and set(r.stats.timings_ms) >= {"context", "model", "total"}
    assert engine.info["kind"] == "diffusion" and engine.info["params"] > 0


def test_bad_arguments(engine):
    with pytest.raises(ValueError, match="mode"):
        engine.infill("a", "b", mode="paragraph")
    with pytest.raises(ValueError, match="threshold"):
        dllm.SamplerConfig(threshold=2.0)
    for field, value in (("canvas", 3.5), ("seed", 1.5), ("use_cache", "no"), ("max_steps", True)):
        with pytest.raises(ValueError, match=f"^{field}: Expected"):  # when built, not deep inside a call
            dllm.SamplerConfig(**{field: value})
    with pytest.raises(ValueError, match="^block_size must be >= 0, got -1$"):
        dllm.SamplerConfig(block_size=-1)


def test_ar_decoder_with_static_cache_equals_plain_greedy(tiny_ar_dir):
    dec = dllm.load(str(tiny_ar_dir))
    assert isinstance(dec, dllm.ARDecoder)
    prefix, suffix = SAMPLE_CODE[:100], SAMPLE_CODE[100:]
    got = dec.infill(prefix, suffix, mode="multi", max_tokens=12)
    sp = dec.tokenizer.special
    from dllm_complete.dllm.canvas import build_context
    ctx = build_context(dec.tokenizer, prefix, suffix, dec.context_tokens - 12)
    seq = [sp.fim_prefix] + ctx.prefix_ids + [sp.fim_suffix] + ctx.suffix_ids + [sp.fim_middle]
    out = []
    with torch.no_grad():
        for _ in range(12):
            logits = dec.model(torch.tensor([seq + out]))[0, -1]
            logits[dec.tokenizer.never_generated()] = float("-inf")
            if not out:  # the prefix ends in typed blanks: the first token begins with a blank
                logits[ctx.first_banned] = float("-inf")
            nxt = int(logits.argmax())
            if nxt in (sp.eom, sp.eos):
                break
            out.append(nxt)
    assert ctx.typed and ctx.first_banned
    assert got.text == ctx.after_typed(dec.tokenizer.decode(out)) and got.stats.nfe == len(out) + (len(out) < 12)


def test_a_model_that_prefers_the_mask_token_never_gets_it(tiny_dir):
    engine = dllm.load(str(tiny_dir))
    engine.model.lm_head = BiasedHead(engine.model.lm_head, _bias(engine, [engine.mask_id], 1e4))
    r = engine.infill("x = ", "\n", mode="multi", max_tokens=16)
    assert 0 < r.stats.nfe <= engine.sampler.max_steps and r.stats.tokens > 0
    assert engine.tokenizer.special.mask not in engine.tokenizer.encode(r.text)


@pytest.mark.parametrize("block_size", [0, 8])
def test_a_step_that_commits_the_mask_token_ends_in_an_error_not_a_hang(tiny_dir, block_size):
    # the pathology of a broken ban: [MASK] committed stays masked; the step cap bounds the model calls
    engine = _with(dllm.load(str(tiny_dir)), block_size=block_size, max_steps=16)
    engine.banned = engine.banned[:0]
    engine.model.lm_head = head = BiasedHead(engine.model.lm_head, _bias(engine, [engine.mask_id], 1e4))
    with pytest.raises(RuntimeError, match="still masked after the step cap"):
        engine.infill("x = ", "\n", mode="multi")
    assert head.calls == step_budget(16, block_size or 48, 48)  # the first block's cap, then the error


def test_ar_decoder_stops_at_the_token_cap(tiny_ar_dir):
    decoder = dllm.load(str(tiny_ar_dir))
    decoder.model.lm_head = head = BiasedHead(decoder.model.lm_head, _bias(decoder, decoder.tokenizer.stop_ids(), -1e4))
    r = decoder.infill("x = ", "\n", mode="multi", max_tokens=12)  # it never ends by itself
    assert r.stats.nfe == r.stats.tokens == head.calls == 12


def test_an_end_commits_only_at_the_leftmost_masked_slot(engine):
    eom, a, b = engine.eom_id, 40, 41
    newline = int(engine.newline.nonzero()[0])
    masked = torch.tensor([False, True, True, True, True])
    tokens = torch.tensor([a, b, eom, a, eom])
    assert engine._end_in_order(tokens, masked, "multi", 1).tolist() == [False, True, False, True, False]
    tokens = torch.tensor([a, eom, a, newline, b])  # the leftmost masked slot may end; single-line: newlines end
    assert engine._end_in_order(tokens, masked, "single", 1).tolist() == [False, True, True, False, True]
    assert engine._end_in_order(tokens, masked, "multi", 1).tolist() == [False, True, True, True, True]
    assert engine._end_in_order(tokens, masked, "single", 4).tolist() == masked.tolist()  # the step cap wins


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_allow_empty_off_writes_before_it_ends(tiny_dir, tiny_ar_dir, mode):
    for path in (tiny_dir, tiny_ar_dir):
        decoder = dllm.load(str(path))
        head, V = decoder.model.lm_head, decoder.model.cfg.vocab_size
        stops = torch.tensor(sorted({decoder.tokenizer.special.eom, decoder.tokenizer.special.eos}))
        decoder.model.lm_head = BiasedHead(head, torch.zeros(V).index_fill_(0, stops, 1e4))  # ending is all it wants
        assert decoder.infill("x = ", "\n", mode=mode).text == ""
        strict = msgspec.structs.replace(decoder.sampler, allow_empty=False)
        assert decoder.infill("x = ", "\n", mode=mode, sampler=strict).text.strip()


def test_a_completion_before_a_line_with_text_is_judged_as_whole_lines(tiny_dir, tiny_ar_dir):
    class Record:
        def __init__(self):
            self.suffixes = set()

        def remask(self, prefix, pieces, suffix):
            self.suffixes.add(suffix)
            return []

        def needs_text(self, prefix, suffix):
            self.suffixes.add(suffix)
            return False

        def finalize(self, prefix, middle, suffix):
            self.suffixes.add(suffix)
            return middle

    for path in (tiny_dir, tiny_ar_dir):
        decoder = dllm.load(str(path))
        strict = msgspec.structs.replace(decoder.sampler, allow_empty=False)
        for mode in ("single", "multi"):
            seen = Record()
            text = decoder.infill("def f(x):\n", "    return x\n", mode=mode, sampler=strict, constraint=seen).text
            assert text.strip() and (mode == "multi" or "\n" not in text)  # a line end is post-processing's
            assert seen.suffixes == {"\n    return x\n"}  # judged as the file the completion makes


def test_typed_blanks_are_left_out_of_the_models_view_and_of_the_answer(tiny_dir, tiny_ar_dir):
    class Record:
        def __init__(self):
            self.seen = {"remask": set(), "needs_text": set(), "finalize": set()}
            self.middles = []

        def remask(self, prefix, pieces, suffix):
            self.seen["remask"].add(prefix)
            return []

        def needs_text(self, prefix, suffix):
            self.seen["needs_text"].add(prefix)
            return True

        def finalize(self, prefix, middle, suffix):
            self.seen["finalize"].add(prefix)
            self.middles.append(middle)
            return middle

    for path in (tiny_dir, tiny_ar_dir):
        decoder = dllm.load(str(path))
        strict = msgspec.structs.replace(decoder.sampler, fill_broken=True)  # needs_text: True
        seen = Record()
        text = decoder.infill("def f(x):\n    ", "\n", mode="single", sampler=strict, constraint=seen).text
        assert seen.seen["finalize"] == seen.seen["needs_text"] == {"def f(x):\n    "}  # the file as it is
        assert seen.seen["remask"] <= {"def f(x):\n"}  # the model's own text follows the line start
        assert seen.middles == [text]


@pytest.fixture()
def raw(monkeypatch):
    """(the model's text as `infill.end` gets it, what was typed) of each single-line infill that follows."""
    from dllm_complete.dllm import ar, engine
    from dllm_complete.dllm.infill import end

    seen = []

    def spy(start, decoded):
        seen.append((decoded.split("\n", 1)[0], start.ctx.typed))
        return end(start, decoded)

    monkeypatch.setattr(engine, "end", spy)
    monkeypatch.setattr(ar, "end", spy)
    return seen


def test_the_first_token_extends_a_word_cut_by_the_cursor(tiny_dir, tiny_ar_dir, raw):
    for path in (tiny_dir, tiny_ar_dir):
        decoder = dllm.load(str(path))
        for prefix in ("def f(x):\n    ret", "import o", "y = x.valu"):
            raw.clear()
            text = decoder.infill(prefix, "\n", mode="single").text
            (model_text, typed), = raw
            assert typed and prefix.endswith(typed) and model_text.startswith(typed)
            assert text == model_text[len(typed):]


def test_after_typed_blanks_the_first_token_begins_with_a_blank(tiny_dir, tiny_ar_dir, raw):
    for path in (tiny_dir, tiny_ar_dir):
        decoder = dllm.load(str(path))
        for prefix in ("x = ", "def f(x):\n    return ", "if x:\n    ", "y = f(a,\t"):
            for seed in range(3):
                raw.clear()
                sampler = msgspec.structs.replace(decoder.sampler, temperature=1.0, seed=seed)
                decoder.infill(prefix, "\n", mode="single", sampler=sampler)
                (model_text, typed), = raw
                assert typed and not typed.strip() and prefix.endswith(typed)
                assert not model_text[:1].strip()  # a blank or nothing: never glued to the word before


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_a_slot_whose_every_choice_was_rejected_takes_the_models_choice(tiny_dir, raw, temperature):
    """After the cursor cut a word, few tokens may start the completion; a constraint that rejects each
    of them leaves the slot no token it has not refused: it then gets the model's choice among those
    that continue the word again, neither an error nor a stray end."""
    class RejectTheFirst:
        def remask(self, prefix, pieces, suffix):
            return [0] if pieces and pieces[0] is not None else []

        def needs_text(self, prefix, suffix):
            return False

        def finalize(self, prefix, middle, suffix):
            return middle

    engine = dllm.load(str(tiny_dir))
    sampler = msgspec.structs.replace(engine.sampler, temperature=temperature, remask_budget=4096, max_steps=64)
    for prefix in ("y = x.valu", "import o"):
        raw.clear()
        r = engine.infill(prefix, "\n", mode="single", constraint=RejectTheFirst(), sampler=sampler)
        (model_text, typed), = raw
        assert typed and model_text.startswith(typed)
        allowed = len(engine.tokenizer.pieces()) - len(engine.tokenizer.not_starting_with(typed))
        assert r.stats.remasked > allowed  # every token that continues the word was refused at least once


def test_bytes_that_are_not_whole_characters_never_reach_the_completion(tiny_dir, tiny_ar_dir, monkeypatch):
    from dllm_complete.dllm.infill import whole_characters

    assert whole_characters("ab\ufffdc", "x = ") == "ab"
    assert whole_characters("ab\ufffdc", "s = '\ufffd'\nx = ") == "ab\ufffdc"  # the file holds one itself
    for path in (tiny_dir, tiny_ar_dir):
        decoder = dllm.load(str(path))
        real = decoder.tokenizer.decode  # as it decodes a token that ends midway through a UTF-8 sequence
        monkeypatch.setattr(decoder.tokenizer, "decode", lambda ids, real=real: real(ids) + "\ufffd")
        text = decoder.infill("def f(x):\n    y = ", "\n", mode="multi").text
        assert "\ufffd" not in text


def test_any_finite_temperature_samples_and_any_valid_seed_has_alternatives():
    from dllm_complete.dllm.sampler import propose

    logits = torch.randn(3, 50, generator=torch.Generator().manual_seed(0))
    logits[0, :10] = float("-inf")  # banned ids
    for temperature in (1e-300, 1e-40, 1e-3, 1.0, 1e39, 1e300):
        tokens, conf = propose(logits, dllm.SamplerConfig(temperature=temperature), torch.Generator().manual_seed(1))
        assert bool(conf.isfinite().all()) and int(tokens[0]) >= 10, temperature
        if temperature < 1e-30:  # as good as greedy
            assert torch.equal(tokens, logits.argmax(-1))
    with pytest.raises(ValueError, match="seed"):
        dllm.SamplerConfig(seed=2 ** 63)
    assert dllm.SamplerConfig(seed=2 ** 63 - 1).alternative(1).seed == 0


def test_a_lone_surrogate_in_the_context_is_read_as_a_broken_character(tiny_dir):
    from dllm_complete.dllm.canvas import encodable

    assert encodable("a\ud800b\udfff") == "a\ufffdb\ufffd" and encodable("é😀") == "é😀"
    decoder = dllm.load(str(tiny_dir))
    text = decoder.infill('s = "\ud800"\nx = ', "\ny = '\udc00'\n", mode="single").text  # as JSON may deliver
    assert isinstance(text, str) and "\ud800" not in text


@pytest.mark.parametrize("kind", ["diffusion", "ar"])
def test_context_and_canvas_never_pass_the_models_positions(tmp_path, kind):
    # a published checkpoint's context is all its positions: a long canvas or a bigger context asked
    # for must shrink to fit, not index past the position tables
    path = tiny_checkpoint(tmp_path / kind, kind=kind, context_tokens=1024)
    model = dllm.load(str(path))
    positions = model.model.cfg.max_seq_len
    prefix, suffix = "x = 1\n" * 800, "y = 2\n" * 800
    for max_tokens, context in ((None, 0), (500, 0), (2000, 0), (None, 5000)):
        sampler = msgspec.structs.replace(model.sampler, context_tokens=context)
        stats = model.infill(prefix, suffix, mode="multi", max_tokens=max_tokens, sampler=sampler).stats
        assert stats.context_tokens + stats.canvas < positions, (max_tokens, context)


def test_a_long_canvas_leaves_the_context_a_quarter_and_bad_arguments_say_so(engine):
    prefix, suffix = "x = 1\n" * 400, "y = 2\n" * 400
    stats = engine.infill(prefix, suffix, mode="multi", max_tokens=2000).stats
    assert stats.context_tokens >= engine.context_tokens // 4 - 8  # not 16 tokens of context
    with pytest.raises(TypeError, match="prefix and suffix must be str"):
        engine.infill(b"x = ", "")
    with pytest.raises(ValueError, match="max_tokens must be an integer"):
        engine.infill("x = ", "", max_tokens=2.5)
    with pytest.raises(TypeError, match="sampler must be a SamplerConfig"):
        engine.infill("x = ", "", sampler={"threshold": 0.5})
    with pytest.raises(TypeError, match="constraint must be one of grammars.constraint_for's"):
        engine.infill("x = ", "", constraint="python")
    with pytest.raises(TypeError, match="sampler must be a SamplerConfig"):
        dllm.load(sampler={"threshold": 0.5})  # refused before anything loads
