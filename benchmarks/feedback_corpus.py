"""How well the checks' feedback serves a corpus of learner answers (tests/learner_corpus.py).

    python benchmarks/feedback_corpus.py [--details]

Per exercise: the wrong answers, how many got feedback naming the fix (every ``must`` word),
how many got a misleading hint (a ``must_not`` word), how many were wrongly accepted; the right
alternatives and how many were accepted. Then the overall rates. ``--details`` lists the wrong
answers whose feedback misses the fix or misleads, with their Problem/Hint lines.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import learner_corpus as corpus  # noqa: E402
from vitlearn.checks import EXERCISES  # noqa: E402
from vitlearn.measure import machine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--details", action="store_true", help="list the misses and misleading hints")
    args = parser.parse_args()
    print(machine())
    start = time.perf_counter()
    rows = {name: dict(wrong=0, named=0, misleading=0, accepted=0, right=0, right_ok=0) for name in EXERCISES}
    details = []
    rejected_rights = []
    for answer in corpus.WRONG:
        result = EXERCISES[answer.exercise].check(corpus.load(answer), verbose=False)
        row = rows[answer.exercise]
        row["wrong"] += 1
        named = not result.passed and corpus.names_fix(answer, result.message)
        misleading = corpus.misleading_words(answer, result.message)
        row["named"] += named
        row["misleading"] += bool(misleading)
        row["accepted"] += result.passed
        if not named or misleading:
            details.append((answer, result, misleading))
    for answer in corpus.RIGHT:
        result = EXERCISES[answer.exercise].check(corpus.load(answer), verbose=False)
        rows[answer.exercise]["right"] += 1
        rows[answer.exercise]["right_ok"] += result.passed
        if not result.passed:
            rejected_rights.append((answer, result))
    seconds = time.perf_counter() - start

    header = f"{'exercise':32} {'wrong':>5} {'named fix':>9} {'misleading':>10} {'accepted!':>9} {'right':>5} {'accepted':>8}"
    print("\n" + header + "\n" + "-" * len(header))
    for name, row in rows.items():
        print(f"{name:32} {row['wrong']:>5} {row['named']:>9} {row['misleading']:>10} {row['accepted']:>9} "
              f"{row['right']:>5} {row['right_ok']:>8}")
    total = {key: sum(row[key] for row in rows.values()) for key in next(iter(rows.values()))}
    print("-" * len(header))
    print(f"{'all':32} {total['wrong']:>5} {total['named']:>9} {total['misleading']:>10} {total['accepted']:>9} "
          f"{total['right']:>5} {total['right_ok']:>8}")
    print(f"\nnamed the fix: {total['named'] / total['wrong']:.1%} of {total['wrong']} wrong answers; "
          f"misleading: {total['misleading']}; wrongly accepted: {total['accepted']}; "
          f"right answers accepted: {total['right_ok']} of {total['right']} ({seconds:.1f} s)")

    if args.details:
        for answer, result, misleading in details:
            state = ("ACCEPTED" if result.passed else
                     f"missing {corpus.missing_words(answer, result.message)}" if not corpus.names_fix(answer, result.message)
                     else "named")
            print(f"\n{answer.exercise}:{answer.name} - {answer.why}\n  {state}"
                  + (f", misleading {misleading}" if misleading else ""))
            for line in corpus.feedback_text(result.message, answer.exercise).splitlines():
                if line.strip().startswith(("Problem:", "Hint:")):
                    print("  " + line.strip())
        for answer, result in rejected_rights:
            print(f"\nRIGHT REJECTED {answer.exercise}:{answer.name}\n{result.message}")


if __name__ == "__main__":
    main()
