"""bench/scope.py: pyflakes as the judge of names a completion leaves undefined (on its own lines
only), and the false re-mask count on canonical middles."""

from bench import humaneval, scope


def test_unresolved_names_on_the_completions_own_lines():
    problem = next(p for p in humaneval.load_split("single-line") if p["task_id"] == "SingleLineInfilling/HumanEval/0/L3")
    assert scope.unresolved(problem, problem["canonical_solution"]) == set()
    indent = problem["canonical_solution"][:len(problem["canonical_solution"]) - len(problem["canonical_solution"].lstrip())]
    assert scope.unresolved(problem, indent + "distance = abs(elem - elem_3)\n") == {"elem_3"}


def test_no_false_remasks_on_a_sample_of_canonical_middles():
    problems = humaneval.sample(humaneval.load_split("multi-line"), 200, 0)
    assert scope.false_remasks(problems) == []


def test_jedi_is_compared_on_the_same_lines():
    problem = next(p for p in humaneval.load_split("single-line") if p["task_id"] == "SingleLineInfilling/HumanEval/0/L3")
    indent = problem["canonical_solution"][:len(problem["canonical_solution"]) - len(problem["canonical_solution"].lstrip())]
    assert scope.jedi_unresolved(problem, indent + "distance = abs(elem - elem_3)\n") == {"elem_3"}
    assert scope.jedi_unresolved(problem, problem["canonical_solution"]) == set()
