"""Trimming, suffix overlap and indentation of the engine's raw output."""

from dllm_complete.lsp_server import window
from dllm_complete.lsp_server.postprocess import detect_indent, drop_line_overlap, finish, reindent, suggestions


def test_single_line_is_cut_at_the_first_newline():
    assert finish("a + b\n    more", mode="single", line_prefix="x = ", line_suffix="") == "a + b"


def test_completion_that_only_goes_to_the_next_line_is_empty():
    assert finish("\n    y = 1", mode="single", line_prefix="x = 1", line_suffix="") == ""
    assert finish("   \n", mode="multi", line_prefix="    ", line_suffix="") == ""


def test_overlap_with_the_rest_of_the_line_is_dropped():
    assert finish("a, b)", mode="single", line_prefix="f(", line_suffix=")") == "a, b"
    assert finish("x[0]):", mode="single", line_prefix="if f(", line_suffix="):") == "x[0]"
    assert drop_line_overlap("abc", "") == "abc"


def test_a_completion_mid_word_that_types_the_rest_of_the_word_again_is_empty():
    for raw, prefix, suffix in (("nt", "pri", "nt(x)"), ("nt(x)", "pri", "nt(x)"), ("turn x", "    re", "turn x")):
        assert finish(raw, mode="single", line_prefix=prefix, line_suffix=suffix) == ""
    assert finish("ntln", mode="single", line_prefix="pri", line_suffix="nt(x)") == "ntln"
    assert finish("nt", mode="single", line_prefix="pri ", line_suffix="nt(x)") == "nt"  # not mid-word: a word may repeat


def test_multi_line_trimmed_to_the_block():
    raw = "y = x * 2\n    return y\n\ndef other():\n    pass"
    out = finish(raw, mode="multi", line_prefix="    ", line_suffix="")
    assert out == "y = x * 2\n    return y"


def test_block_after_an_opener_line():
    raw = "\n    total = 0\n    return total\nprint(1)"
    out = finish(raw, mode="multi", line_prefix="def f():", line_suffix="")
    assert out == "\n    total = 0\n    return total"


def test_trailing_lines_repeating_the_suffix_are_dropped():
    raw = "a = 1\n    b = 2\n    return a + b"
    out = finish(raw, mode="multi", line_prefix="    ", line_suffix="", next_lines=("return a + b",))
    assert out == "a = 1\n    b = 2"


def test_closing_brace_already_in_the_file_is_not_repeated():
    raw = "count++;\n}\n"
    assert finish(raw, mode="multi", line_prefix="    ", line_suffix="", next_lines=("}",)) == "count++;"


def test_reindent_to_tabs_and_to_the_files_step():
    assert reindent(["if x:", "    y()", "        z()"], 0, "\t") == ["if x:", "\ty()", "\t\tz()"]
    assert reindent(["if x:", "    y()"], 0, "  ") == ["if x:", "  y()"]
    assert reindent(["if x:", "\t\ty()"], 2, "  ") == ["if x:", "    y()"]  # a tab is one level


def test_detect_indent():
    assert detect_indent("def f():\n  if x:\n    y\n") == "  "
    assert detect_indent("def f():\n\tif x:\n\t\ty\n") == "\t"
    assert detect_indent("x = 1\n") == "    "


def test_a_file_without_indented_lines_takes_the_tab_the_cursor_line_starts_with():
    ctx = window.build("all: build\n\t", 12, 100, 100)  # a Makefile's first recipe line
    assert suggestions(["make -C src\n    cp a b"], ctx, mode="multi") == ["make -C src\n\tcp a b"]
    ctx = window.build("def f():\n    ", 13, 100, 100)
    assert suggestions(["if x:\n        y"], ctx, mode="multi") == ["if x:\n        y"]


def test_crlf_documents_get_crlf():
    out = finish("\n    a = 1\n    b = 2", mode="multi", line_prefix="def f():", line_suffix="", eol="\r\n")
    assert out == "\r\n    a = 1\r\n    b = 2"


def test_max_lines():
    raw = "\n".join(f"x{i} = {i}" for i in range(50))
    assert finish(raw, mode="multi", line_prefix="", line_suffix="", max_lines=3).count("\n") == 2


def test_before_a_lines_text_whole_lines_go_above_it_at_its_indentation():
    assert finish("total += x", mode="single", line_prefix="    ", line_suffix="return x") == "total += x\n    "
    assert finish("total += x", mode="single", line_prefix="", line_suffix="    return x") == "total += x\n"
    assert finish("a, b", mode="single", line_prefix="    ", line_suffix=")") == "a, b"  # closers: inline


def test_continuation_lines_keep_the_first_lines_indentation_as_their_base():
    assert finish("        x = 1\n        y = 2", mode="multi", line_prefix="", line_suffix="") == \
        "        x = 1\n        y = 2"
    assert finish("    }\n    };", mode="multi", line_prefix="", line_suffix="", indent="  ") == "    }\n    };"
    assert finish("\t\tx\n\t\ty", mode="multi", line_prefix="", line_suffix="", indent="\t") == "\t\tx\n\t\ty"


def test_a_block_after_an_opener_goes_deeper_and_ends_at_its_closing_line():
    go = finish("\n}\n{", mode="multi", line_prefix="func sum(xs []int) int {", line_suffix="", indent="\t")
    assert go == ""  # closing the function at once is not a body
    method = "\n    this.n += step;\n    return this;\n  }\n}\nthis. = {"
    assert finish(method, mode="multi", line_prefix="  increment(step) {", line_suffix="", indent="  ") == \
        "\n    this.n += step;\n    return this;\n  }"
    call = finish("\n        a=1,\n        b=2,\n    )\nx = 1", mode="multi", line_prefix="    result = dict(",
                  line_suffix="")
    assert call == "\n        a=1,\n        b=2,\n    )"
    assert finish("\nfrom main\n import x", mode="multi", line_prefix="\t", line_suffix="", indent="\t") == ""


def test_a_line_that_repeats_the_next_one_is_not_suggested():
    assert finish("        return total", mode="single", line_prefix="", line_suffix="        return total") == ""
    blank_between = finish("\n        x = 1\n\n        return x", mode="multi", line_prefix="    def f(self):",
                           line_suffix="", next_lines=("x = 1", "return x"))
    assert blank_between == ""
    assert finish("x = 1", mode="single", line_prefix="    y = ", line_suffix="", next_lines=("x = 1",)) == "x = 1"


def test_a_bracket_the_completion_opened_is_kept_though_the_line_closes_one_too():
    raw = "os.path.join(here, os.path.dirname(__file__))"
    assert finish(raw, mode="single", line_prefix="    p = os.path.join(here, ", line_suffix=")") == raw
    assert finish("b: 2}", mode="single", line_prefix="const o = { a: 1, ", line_suffix=" };") == "b: 2"


def test_before_a_closing_lines_indentation_whole_lines_go_above_it():
    assert finish("        a,", mode="multi", line_prefix="", line_suffix="    )") == "        a,\n"


def test_a_block_at_the_openers_indentation_goes_on_unless_it_closes():
    switch = "\n\tcase 1:\n\t\treturn 2\n\tdefault:\n\t\treturn 3\n\t}"  # gofmt: case at the switch's level
    assert finish(switch, mode="multi", line_prefix="\tswitch x {", line_suffix="", indent="\t",
                  next_lines=("\t}",)) == "\n\tcase 1:\n\t\treturn 2\n\tdefault:\n\t\treturn 3"
    assert finish("\ny = 2\nz = 3", mode="multi", line_prefix="x = 1", line_suffix="") == "\ny = 2\nz = 3"
    params = finish("\n    a: int,\n    b: int,\n) -> int:\n    return a", mode="multi", line_prefix="def f(",
                    line_suffix="")
    assert params == "\n    a: int,\n    b: int,\n) -> int:\n    return a"  # a closing line that opens again
    effect = finish("\n    load(id);\n  }, [id]);\nfoo();", mode="multi", line_prefix="  useEffect(() => {",
                    line_suffix="", indent="  ")
    assert effect == "\n    load(id);\n  }, [id]);"


def test_an_inner_closing_line_is_not_taken_for_the_outer_one_below():
    raw = "\n    expect(f()).toBe(1);\n  });"
    out = finish(raw, mode="multi", line_prefix="  it('works', () => {", line_suffix="", indent="  ",
                 next_lines=("});",))
    assert out == raw
    assert finish(raw, mode="multi", line_prefix="  it('works', () => {", line_suffix="", indent="  ",
                  next_lines=("  });",)) == "\n    expect(f()).toBe(1);"


def test_on_an_empty_line_a_repeat_of_the_next_line_is_not_suggested():
    assert finish("return total", mode="single", line_prefix="    ", line_suffix="",
                  next_lines=("    return total",)) == ""


def test_words_and_strings_are_not_taken_for_the_lines_closers():
    assert finish("data", mode="single", line_prefix="if ", line_suffix=" and y > 0:") == "data"
    assert finish("x > 0) {", mode="single", line_prefix="  if (", line_suffix=") {") == "x > 0"  # other kinds aside
    assert finish('"(" + msg)', mode="single", line_prefix="log(", line_suffix=")") == '"(" + msg'
    assert finish('r"\\(\\d+")', mode="single", line_prefix="re.compile(", line_suffix=")") == 'r"\\(\\d+"'


def test_the_space_before_the_word_after_the_cursor_is_kept():
    assert finish("if x else g(x) ", mode="single", line_prefix="[f(x) ", line_suffix="for x in xs]") == \
        "if x else g(x) "


def test_at_column_0_of_a_closing_line_whole_lines_go_above_it():
    assert finish("    b=2,", mode="multi", line_prefix="", line_suffix=")") == "    b=2,\n"
