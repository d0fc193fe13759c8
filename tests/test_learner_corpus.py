"""The checks on a corpus of learner answers (tests/learner_corpus.py): every right alternative
passes, every wrong answer fails without a misleading hint, and most feedback names the fix."""

from __future__ import annotations

import inspect
import sys
from functools import lru_cache
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import learner_corpus as corpus
from vitlearn.checks import EXERCISES
from vitlearn.checks.core import CheckResult

NAMED_FIX_RATE = 0.90


@lru_cache(maxsize=None)
def _result(kind: str, name: str) -> CheckResult:
    answer = {(type(a).__name__, a.name): a for a in corpus.WRONG + corpus.RIGHT}[kind, name]
    return EXERCISES[answer.exercise].check(corpus.load(answer), verbose=False)


def test_the_corpus_covers_every_exercise_with_unique_names():
    assert len(corpus.WRONG) >= 60 and len(corpus.RIGHT) >= 40
    assert {a.exercise for a in corpus.WRONG} == set(EXERCISES)
    assert {a.exercise for a in corpus.RIGHT} == set(EXERCISES)
    for name in EXERCISES:
        assert sum(a.exercise == name for a in corpus.WRONG) >= 3, name
        assert sum(a.exercise == name for a in corpus.RIGHT) >= 3, name
    names = [a.name for a in corpus.WRONG + corpus.RIGHT]
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
    for answer in corpus.WRONG:
        assert 1 <= len(answer.must) <= 3 and all(answer.must), answer.name
        assert answer.why, answer.name


def test_every_answer_has_its_source_like_a_notebook_cell():
    for answer in corpus.WRONG + corpus.RIGHT:
        source = inspect.getsource(corpus.load(answer))
        assert source.startswith(f"def {answer.exercise}("), answer.name


@pytest.mark.parametrize("answer", corpus.RIGHT, ids=lambda a: a.name)
def test_a_right_alternative_is_accepted(answer):
    result = _result("Right", answer.name)
    assert result.passed, result.message


@pytest.mark.parametrize("answer", corpus.WRONG, ids=lambda a: a.name)
def test_a_wrong_answer_is_rejected_without_a_misleading_hint(answer):
    result = _result("Wrong", answer.name)
    assert not result.passed, f"{answer.name} ({answer.why}) was accepted"
    misleading = corpus.misleading_words(answer, result.message)
    assert not misleading, f"misleading {misleading} for {answer.name} ({answer.why}):\n{result.message}"


def test_the_feedback_names_the_fix_for_most_wrong_answers():
    misses = []
    for answer in corpus.WRONG:
        result = _result("Wrong", answer.name)
        if result.passed or not corpus.names_fix(answer, result.message):
            misses.append(answer)
    rate = 1 - len(misses) / len(corpus.WRONG)
    print(f"\nfeedback names the fix for {len(corpus.WRONG) - len(misses)} of {len(corpus.WRONG)} "
          f"wrong answers ({rate:.1%})")
    for answer in misses:
        result = _result("Wrong", answer.name)
        state = "accepted" if result.passed else f"missing {corpus.missing_words(answer, result.message)}"
        print(f"  {answer.exercise}:{answer.name}: {state} ({answer.why})")
    assert rate >= NAMED_FIX_RATE, f"{rate:.1%} < {NAMED_FIX_RATE:.0%}: {[a.name for a in misses]}"
