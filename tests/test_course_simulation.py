"""benchmarks/grade_course.py at a small scale: a course over three batches (one late, with
resubmissions), a roster with absent students and strangers, and every row accounted for."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "grade_course.py"


def test_a_small_course_grades_with_every_row_accounted_for():
    done = subprocess.run([sys.executable, str(SCRIPT), "--students", "16", "--timeout", "10"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "every row accounted for" in done.stdout
    assert "16 on the roster" in done.stdout and "4 without a submission, 2 strangers" in done.stdout
