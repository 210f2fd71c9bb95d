"""Trees deeper than Python's recursion limit (a chain of a thousand `+`, hundreds of chained calls, as
generated code has): every check answers instead of raising RecursionError, which ended the completion."""

import pytest

import grammars

CHAIN = "+a" * 1200


@pytest.mark.parametrize("language", ["python", "javascript", "typescript", "go", "rust", "c"])
def test_a_deep_tree_is_judged(language):
    check = grammars.constraint_for(language)
    assert check.finalize("x = ", "a", CHAIN + ";\n") == "a"
    assert check.remask("x = ", ["a +* b"], CHAIN + "\n") is not None
    assert check.needs_text("x = a.", CHAIN + "\n") in (True, False)


def test_the_scope_walk_takes_deep_python():
    calls = "x = a" + "".join(f".m{i}()" for i in range(600)) + "\n"
    chain = "x = " + "+".join(["a"] * 1200) + "\n"
    for document in (calls, chain):
        check = grammars.constraint_for("python", scope=True, document=document)
        assert check.remask(document, ["nowhere"], "") == [0]  # the walk finished: a name it never saw is caught
