"""Context trimming around the cursor."""

from dllm_complete.dllm.canvas import JUDGED_CHARS, build_context, judged_text, starts_line_text, typed_before_cursor
from tokenizers import Tokenizer as HFTokenizer

from dllm_complete.dllm.testing import tiny_tokenizer
from dllm_complete.dllm.tokenizer import Tokenizer

TOK = tiny_tokenizer()


def _text(ids):
    sp = TOK.special
    return TOK.decode([i for i in ids if i not in (sp.bos, sp.eos)])


def test_short_context_is_kept_whole_with_file_markers():
    ctx = build_context(TOK, "def f():\n    ret", "urn 1\n", 200)
    assert ctx.prefix_ids[0] == TOK.special.bos and ctx.suffix_ids[-1] == TOK.special.eos
    assert _text(ctx.prefix_ids) + ctx.typed == "def f():\n    ret" and _text(ctx.suffix_ids) == "urn 1\n"


def test_long_context_is_cut_at_line_boundaries_within_budget():
    lines = [f"value_{i} = compute({i}, 'é😀')\n" for i in range(300)]
    prefix = "".join(lines[:200]) + "x = comp"
    suffix = "ute(1)\n" + "".join(lines[200:])
    ctx = build_context(TOK, prefix, suffix, 400)
    assert len(ctx.prefix_ids) + len(ctx.suffix_ids) <= 400
    assert len(ctx.prefix_ids) > len(ctx.suffix_ids)  # more prefix than suffix
    assert ctx.prefix_ids[0] != TOK.special.bos and ctx.suffix_ids[-1] != TOK.special.eos
    p, s = _text(ctx.prefix_ids) + ctx.typed, _text(ctx.suffix_ids)
    assert prefix.endswith(p) and p.startswith("value_") and p.endswith("x = comp")
    assert suffix.startswith(s) and s.startswith("ute(1)\n") and s.endswith("\n")


def test_cursor_line_is_kept_whole_where_it_fits_and_cut_nearest_the_cursor_where_not():
    line = "y = " + " + ".join(f"v{i}" for i in range(100))
    ctx = build_context(TOK, "a = 1\n" + line, "  # tail\nb = 2\n", 20)
    p = _text(ctx.prefix_ids) + ctx.typed
    assert line.endswith(p) and p.endswith("v99") and len(p) < len(line)  # the tokens before the cursor
    assert len(ctx.prefix_ids) + len(ctx.suffix_ids) <= 20
    ctx = build_context(TOK, "a = 1\n" + line, "  # tail\nb = 2\n", 2000)
    assert _text(ctx.prefix_ids) + ctx.typed == "a = 1\n" + line  # fits: whole, with the lines above
    ctx = build_context(TOK, "x = ", line + "\nb = 2\n", 20)  # an over-budget line after the cursor
    s = _text(ctx.suffix_ids)
    assert line.startswith(s) and s.startswith("y = v0") and len(s) < len(line)
    assert len(ctx.prefix_ids) + len(ctx.suffix_ids) <= 20 + 1  # + the file-start marker of the whole prefix


def test_tokenizer_round_trips_whitespace_exactly():
    text = "def f(x):\n\tif x:  \r\n        return 'é😀'   # c\n\n\n    y = 12345\n"
    assert TOK.decode(TOK.encode(text)) == text


def test_the_constraint_judges_a_completion_before_a_line_with_text_as_whole_lines():
    assert starts_line_text("", "    y = 2") and starts_line_text("  ", "y = 2") and starts_line_text("\t", "y")
    assert not starts_line_text("", "") and not starts_line_text("x = ", "1") and not starts_line_text("", "   ")
    assert not starts_line_text("    ", ")") and not starts_line_text("\t", "];")  # closers after indentation
    assert starts_line_text("", "    )") and starts_line_text("", ")") and starts_line_text("  ", "  )")  # not before
    ctx = build_context(TOK, "if x:\n", "    return 1\n", 200)
    assert ctx.judged_suffix == "\n    return 1\n"
    closers = build_context(TOK, "x = [\n    ", ")\n", 200)
    assert closers.judged_suffix == ")\n"
    mid_line = build_context(TOK, "x = ", "1\n", 200)
    assert mid_line.judged_suffix == "1\n"
    assert mid_line.after_typed(" f(") == "f(" and mid_line.after_typed("  f(") == " f("


def test_blanks_typed_before_the_cursor_are_left_to_the_model():
    ctx = build_context(TOK, "def f(x):\n    if x:\n        ", "\n", 200)
    assert ctx.typed == " " * 8 and ctx.judged_prefix == "def f(x):\n    if x:\n"
    assert _text(ctx.prefix_ids) == "def f(x):\n    if x:\n"
    assert ctx.after_typed("        return 1") == "return 1"  # the model's indentation, as typed
    assert ctx.after_typed("            y()") == "    y()" and ctx.after_typed("    return 1") == "return 1"
    assert ctx.after_typed("\treturn 1") == "return 1" and ctx.after_typed("return 1") == "return 1"
    assert ctx.first_banned == TOK.starting_with_text() and TOK.starting_with_text()
    assert all(TOK.pieces()[i][:1].strip() for i in ctx.first_banned)
    assert all(i in ctx.first_banned for i, piece in enumerate(TOK.pieces()) if piece[:1].strip())
    before_text = build_context(TOK, "if x:\n    ", "return 1\n", 200)
    assert before_text.judged_suffix == "\n    return 1\n" and before_text.after_typed("    y = 2") == "y = 2"


def test_the_constraint_judges_more_text_than_the_model_sees():
    body = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(150))
    ctx = build_context(TOK, body + "def g(x):\n    return ", "x\n\n" + body, 300)
    assert ctx.judged_prefix == body + "def g(x):\n    return" and ctx.judged_suffix == "x\n\n" + body
    assert len(ctx.prefix_text) < len(body) / 3  # the model sees a fragment
    big = body * (JUDGED_CHARS // len(body) + 2)
    pre, suf = judged_text(big + "def g(x):\n    return ", "x\n\n" + big)
    assert len(pre) <= JUDGED_CHARS and pre.startswith("def f") and pre.endswith("    return ")
    assert len(suf) <= JUDGED_CHARS and suf.startswith("x\n") and suf.endswith("\n\n")  # before a top-level line


def test_a_word_cut_by_the_cursor_is_backed_up_by_its_last_token():
    cut = typed_before_cursor(TOK, "def f(x):\n    ret")  # the last token of " ret"
    assert cut and " ret".endswith(cut)
    assert typed_before_cursor(TOK, "x = foo(a, ") == " "  # blanks first
    assert typed_before_cursor(TOK, "x = foo(a,") == "" and typed_before_cursor(TOK, "x = (") == ""
    assert typed_before_cursor(TOK, "") == "" and typed_before_cursor(TOK, "x = 1\n") == ""
    ctx = build_context(TOK, "def f(x):\n    ret", "\n", 200)
    assert ctx.typed == cut and _text(ctx.prefix_ids) + cut == ctx.judged_prefix + cut == "def f(x):\n    ret"
    assert ctx.after_typed(cut + "urn x") == "urn x" and ctx.after_typed(cut) == ""


def test_pieces_not_starting_with_a_text():
    banned = set(TOK.not_starting_with(" re"))
    pieces = TOK.pieces()
    assert all(pieces[i].startswith(" re") for i in range(TOK.vocab_size) if i not in banned)
    assert len(banned) < TOK.vocab_size and TOK.not_starting_with(" re") is TOK.not_starting_with(" re")


def test_a_line_longer_than_the_budget_is_cut_as_its_whole_tokenization_would_cut_it():
    from dllm_complete.dllm.canvas import _over_budget

    line = "".join(f"name_{i} = f({i}, 'é😀'),  " for i in range(2000))  # 60,000 characters on one line
    ids = TOK.hf.encode(line, add_special_tokens=False)
    for budget in (16, 300):
        assert _over_budget(TOK, line, budget, from_end=True) == line[ids.offsets[-budget][0]:]
        assert _over_budget(TOK, line, budget, from_end=False) == line[:ids.offsets[budget - 1][1]]
    assert _over_budget(TOK, "x = 1", 16, from_end=True) is None
    assert typed_before_cursor(TOK, line + " ret") == typed_before_cursor(TOK, "x = ret")  # from the line's tail


def test_a_published_tokenizers_unmarked_control_token_stays_text_too():
    hf = HFTokenizer.from_str(TOK.hf.to_str())
    hf.add_tokens(["<|fim_pad|>"])  # added but not marked special, as Qwen2.5's FIM tokens are
    pad = hf.token_to_id("<|fim_pad|>")
    tok = Tokenizer(hf, TOK.special)
    assert pad not in tok.encode("x = '<|fim_pad|>'") and tok.hf.token_to_id("<|fim_pad|>") == pad
    assert tok.decode([pad]) == "<|fim_pad|>"  # still the same token when the model writes it


def test_text_that_spells_a_control_token_stays_text():
    spelled = "MASK, END = '<|mask|>', \"<|eom|><|eos|>\"  # <|fim_prefix|><|fim_suffix|><|fim_middle|><|bos|>\n"
    ctx = build_context(TOK, spelled + "x = ", "\n" + spelled, 400)
    sp = TOK.special
    control = {sp.mask, sp.eom, sp.bos, sp.eos, sp.fim_prefix, sp.fim_suffix, sp.fim_middle}
    assert not control & set(ctx.prefix_ids[1:] + ctx.suffix_ids[:-1])  # only the file's own ends
    assert _text(ctx.prefix_ids) + ctx.typed == spelled + "x = " and _text(ctx.suffix_ids) == "\n" + spelled
