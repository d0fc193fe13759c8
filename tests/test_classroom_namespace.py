"""`vitlearn grade --sandbox bwrap`: what only the namespace sandbox stops.

Every hostile submission is chapter 02's solution notebook whose ``weight_to_kernel`` cell first
tries one escape the process sandbox cannot stop, then defines the honest function; the function
raises ``LEAKED: ...`` when the escape worked. So under bubblewrap each keeps full marks, and a
lost point names what leaked. The tests skip when bubblewrap does not work here, and fail instead
when ``VITLEARN_REQUIRE_BWRAP=1`` (as in CI).
"""

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from vitlearn.classroom.notebooks import CHAPTERS_DIR
from vitlearn.classroom.sandbox import bwrap_problem

CHAPTER = CHAPTERS_DIR / "02_conv2d_equivalence.ipynb"
TARGET = "weight_to_kernel"
HONEST = "alice"


def require_bwrap() -> None:
    """Skip (or fail, with VITLEARN_REQUIRE_BWRAP=1) when bubblewrap cannot run the worker."""
    problem = bwrap_problem()
    if problem and os.environ.get("VITLEARN_REQUIRE_BWRAP") == "1":
        pytest.fail(f"VITLEARN_REQUIRE_BWRAP=1 but {problem}")
    if problem:
        pytest.skip(problem)


def with_cell(notebook: dict, source: str) -> dict:
    """A copy of ``notebook`` whose ``weight_to_kernel`` solution cell is ``source``."""
    copy = json.loads(json.dumps(notebook))
    for cell in copy["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == TARGET:
            cell["source"] = source
    return copy


def honest_source(notebook: dict) -> str:
    cell = next(c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == TARGET)
    return "".join(cell["source"])


def attacks(other: Path, port: int, marker: str) -> dict[str, str]:
    """Submission id -> code that sets ``LEAK`` to what it got past the sandbox ('' when nothing)."""
    return {
        "ctypes_reads_the_solution": (
            "import ctypes, errno\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            f"fd = libc.open({str(CHAPTER).encode()!r}, 0)\n"
            "if fd >= 0:\n    buf = ctypes.create_string_buffer(200)\n    libc.read(fd, buf, 200)\n"
            "    LEAK = 'read the solution: ' + repr(buf.raw[:80])\n"
            "else:\n    LEAK = '' if ctypes.get_errno() == errno.ENOENT else 'found the solution, errno '"
            " + str(ctypes.get_errno())\n"),
        "os_open_reads_another_submission": (
            "import os\ntry:\n"
            f"    fd = os.open({str(other)!r}, os.O_RDONLY)\n    LEAK = 'read: ' + repr(os.read(fd, 80))\n"
            "except FileNotFoundError:\n    LEAK = ''\nexcept OSError as exc:\n"
            "    LEAK = 'found another submission: ' + repr(exc)\n"),
        "connects_to_localhost": (
            "import socket\ntry:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=3).close()\n"
            "    LEAK = 'connected to the grader machine'\nexcept OSError:\n    LEAK = ''\n"),
        "writes_tmp": f"open('/tmp/{marker}', 'w').write('left behind')\nLEAK = ''\n",
        "fork_bomb": (
            "import os, time\nforked = 0\nfor _ in range(200):\n    try:\n        pid = os.fork()\n"
            "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n"
            "    forked += 1\nLEAK = ''\n"),
        "reads_the_workers_environ": (
            "import os\ntry:\n    LEAK = 'read the worker: ' + repr(open(f'/proc/{os.getppid()}/environ', 'rb').read(80))\n"
            "except OSError:\n    LEAK = ''\n"),
        "reads_the_graders_proc": (
            "import os\npids = [p for p in os.listdir('/proc') if p.isdigit()]\nseen = b''\nfor p in pids:\n"
            "    try:\n        seen += open(f'/proc/{p}/cmdline', 'rb').read() + b'\\n'\n    except OSError:\n"
            "        pass\nLEAK = ('sees the grader: ' + repr(seen[:300])) if b'vitlearn\\x00grade' in seen or "
            "len(pids) > 8 else ''\n"),
    }


def hostile(attack: str, honest: str) -> str:
    """The attack, then the honest function, wrapped to raise what the attack leaked."""
    return (attack + honest + "\n_honest = weight_to_kernel\n\n\ndef weight_to_kernel(*args):\n"
            "    if LEAK:\n        raise RuntimeError('LEAKED: ' + LEAK)\n    return _honest(*args)\n")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Honest and hostile submissions graded by one `vitlearn grade --sandbox bwrap --jobs 2` run."""
    require_bwrap()
    root = tmp_path_factory.mktemp("namespace")
    corpus, out = root / "corpus", root / "out"
    corpus.mkdir()
    solution = json.loads(CHAPTER.read_text())
    listener = socket.create_server(("127.0.0.1", 0))
    marker = f"vitlearn-namespace-{uuid.uuid4().hex}"
    files = {HONEST: solution, "bob": solution}
    for name, attack in attacks(corpus / f"{HONEST}.ipynb", listener.getsockname()[1], marker).items():
        files[name] = with_cell(solution, hostile(attack, honest_source(solution)))
    paths = []
    for name, content in files.items():
        paths.append(corpus / f"{name}.ipynb")
        paths[-1].write_text(json.dumps(content))
    command = [sys.executable, "-m", "vitlearn", "grade", "--out", str(out), "--jobs", "2", "--timeout", "10",
               "--chapter", "02", "--sandbox", "bwrap", *map(str, paths)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    listener.setblocking(False)
    try:
        listener.accept()[0].close()
        accepted = True
    except BlockingIOError:
        accepted = False
    listener.close()
    rows = {row["id"]: row for row in json.loads((out / "grades.json").read_text())["submissions"]}
    yield {"run": run, "rows": rows, "accepted": accepted, "tmp": Path("/tmp") / marker}
    Path("/tmp", marker).unlink(missing_ok=True)


def test_the_batch_is_graded_in_bwrap_and_exits_0(batch):
    assert batch["run"].returncode == 0, batch["run"].stderr[-3000:]
    assert "bwrap sandbox" in batch["run"].stderr
    assert all(row["settings"]["sandbox"] == "bwrap" for row in batch["rows"].values())


def test_honest_submissions_keep_full_marks(batch):
    for name in (HONEST, "bob"):
        row = batch["rows"][name]
        assert row["total"] == row["max"] > 0, row


@pytest.mark.parametrize("name", ["ctypes_reads_the_solution", "os_open_reads_another_submission",
                                  "connects_to_localhost", "writes_tmp", "fork_bomb", "reads_the_workers_environ",
                                  "reads_the_graders_proc"])
def test_an_escape_the_process_sandbox_allows_fails_in_bwrap(batch, name):
    row = batch["rows"][name]
    assert row["total"] == row["max"] > 0, [e for e in row["exercises"] if e["points"] != e["max_points"]]


def test_no_connection_reached_the_listener(batch):
    assert not batch["accepted"]


def test_a_file_written_to_tmp_stays_in_the_sandbox(batch):
    assert not batch["tmp"].exists()


def test_no_fork_bomb_process_outlives_the_batch(batch):
    left = subprocess.run(["pgrep", "-f", "sandbox_worker.py"], capture_output=True, text=True, check=False)
    assert left.stdout.strip() == "", left.stdout
