"""Run solution cells in the sandbox worker (``sandbox_worker.py``) and read their outcomes back safely.

The grader process never runs learner code. It writes the cases it chose into a fresh job
folder, asks the worker to run each exercise there in a forked, limited child, then reads the
child's ``<exercise>.pt`` files: regular files only, size-checked, ``torch.load(...,
weights_only=True)``, and every field type-checked before it becomes an
:class:`~vitlearn.checks.core.Outcome`. Nothing else the child left behind is read.

Two sandboxes (:data:`SANDBOXES`): ``process`` is the worker as a plain process (limits, the
``nobody`` user, an audit hook); ``bwrap`` starts it inside bubblewrap's namespaces, where it sees
only the interpreter, its own /proc and /tmp, no network, and the one job folder it may write.
"""

from __future__ import annotations

import functools
import io
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import vitlearn
from vitlearn.checks.core import Case, Outcome
from vitlearn.classroom.notebooks import CHAPTERS_DIR

WORKER = Path(__file__).with_name("sandbox_worker.py")
CORE = Path(__file__).resolve().parents[1] / "checks" / "core.py"
MAX_OUTCOME_BYTES = 8 * 2**20
MAX_TENSOR_ELEMENTS = 2**20
HARNESS_FAILED = 70  # the child's exit status when saving the outcomes failed (as in sandbox_worker.py)
SANDBOXES = ("auto", "bwrap", "process")
NOBODY = 65534  # the uid and gid the worker has inside bubblewrap's user namespace
INSIDE = "/opt/vitlearn-sandbox"  # where the worker script and core.py appear inside bubblewrap
PROCESS_GAPS = ("the process sandbox cannot stop a submission from reading files the sandbox user may read "
                "(through ctypes or os.open past the audit hook), connecting to the network, seeing the "
                "grader's processes in /proc, nor leaving files in /tmp")


class SandboxError(RuntimeError):
    """The sandbox asked for cannot be used here."""


class OutcomeError(ValueError):
    """The child's outcome file is missing, too large, not loadable or not what the harness writes."""


@dataclass
class Limits:
    """What one exercise's child may use: wall-clock seconds, extra memory bytes, processes."""

    timeout: float = 30.0
    memory: int = 2 * 2**30
    nproc: int = 32


@dataclass
class Run:
    """How one exercise's child ended, and the cell error or outcomes it reported."""

    end: str  # "exit", "signal" or "timeout"
    seconds: float
    code: int | None = None
    signal: str | None = None
    cell_error: str | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    unreadable: str = ""  # why the outcome file could not be used ("" when it was)


def sandbox_user() -> tuple[int, int] | None:
    """(uid, gid) of ``nobody`` when the grader runs as root (children drop to it), else None."""
    if os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam("nobody")
    except KeyError:
        return None
    return user.pw_uid, user.pw_gid


def _python_paths() -> list[str]:
    """What the interpreter needs: its prefix, a virtual environment's pyvenv.cfg and site-packages
    (not the folder around them, which may be the checkout), and any other site-packages folder on
    its path (one a ``.pth`` file adds)."""
    paths = [sys.base_prefix]
    if sys.prefix != sys.base_prefix:
        paths += [os.path.join(sys.prefix, "pyvenv.cfg"), sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    paths += [path for path in sys.path if os.path.basename(path) in ("site-packages", "dist-packages")]
    return list(dict.fromkeys(path for path in paths if os.path.exists(path)))


def bwrap_command(job_root: Path | None = None) -> list[str]:
    """bubblewrap's command line: new user, PID, IPC, UTS, network and cgroup namespaces, a read-only
    root holding only the system libraries and the interpreter, a private /tmp, its own /proc, and
    ``job_root`` (the worker's job folders) the one folder it may write."""
    command = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--uid", str(NOBODY),
               "--gid", str(NOBODY), "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev",
               "--tmpfs", "/tmp", "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    for system in ("/bin", "/lib", "/lib32", "/lib64", "/sbin"):
        command += ["--ro-bind-try", system, system]
    for path in _python_paths():
        command += ["--ro-bind", path, path]
    if sys.prefix != sys.base_prefix:  # the venv's python, a link out of the checkout, as the file it names
        command += ["--ro-bind", os.path.realpath(sys.executable), sys.executable]
    command += ["--ro-bind", str(WORKER), f"{INSIDE}/{WORKER.name}", "--ro-bind", str(CORE), f"{INSIDE}/core.py"]
    if job_root is not None:
        command += ["--bind", str(job_root), str(job_root), "--chdir", str(job_root)]
    return command


@functools.cache
def bwrap_problem() -> str:
    """Why bubblewrap cannot run the interpreter here ('' when it can); probed once per process."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    try:
        probe = subprocess.run([*bwrap_command(), sys.executable, "-I", "-c", "pass"], capture_output=True,
                               text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed to start: {exc}"
    return "" if probe.returncode == 0 else f"bwrap does not work here: {probe.stderr.strip() or probe.returncode}"


def choose_sandbox(kind: str) -> tuple[str, str]:
    """The sandbox ``kind`` (one of :data:`SANDBOXES`) grades with, and a warning ('' when none):
    ``auto`` is bwrap when it works, else the process sandbox; :class:`SandboxError` when ``bwrap``
    is asked for and does not work."""
    if kind not in SANDBOXES:
        raise SandboxError(f"the sandbox must be one of {', '.join(SANDBOXES)}, not {kind!r}")
    if kind == "process":
        return "process", ""
    problem = bwrap_problem()
    if not problem:
        return "bwrap", ""
    if kind == "bwrap":
        raise SandboxError(f"--sandbox bwrap: {problem}")
    return "process", f"warning: grading in the process sandbox ({problem}): {PROCESS_GAPS}"


class Worker:
    """One sandbox worker process: pre-warmed (imports torch once, forks per submission) or, with
    ``prewarmed=False``, a fresh interpreter per submission (the baseline it is measured against).
    Its children may not read vitlearn, the chapters, nor the files ``hidden`` names. ``sandbox`` is
    ``"process"`` or ``"bwrap"`` (the worker inside bubblewrap's namespaces, see :func:`bwrap_command`)."""

    def __init__(self, limits: Limits, *, prewarmed: bool = True, hidden: Sequence[Path] = (),
                 sandbox: str = "process") -> None:
        self.limits, self.prewarmed, self.hidden = limits, prewarmed, [str(path.resolve()) for path in hidden]
        self.sandbox = sandbox
        self.process: subprocess.Popen | None = None
        self.user = sandbox_user() if sandbox == "process" else None  # inside bwrap the worker is nobody already
        self.root = Path(tempfile.mkdtemp(prefix="vitlearn-grade-"))  # 0700: children cannot reach siblings

    def _command(self) -> list[str]:
        """The worker's command line, inside bubblewrap for the bwrap sandbox."""
        once = [] if self.prewarmed else ["--once"]
        if self.sandbox == "bwrap":
            return [*bwrap_command(self.root), sys.executable, "-I", f"{INSIDE}/{WORKER.name}", f"{INSIDE}/core.py",
                    *once]
        return [sys.executable, "-I", str(WORKER), str(CORE), *once]

    def _start(self) -> subprocess.Popen:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        process = subprocess.Popen(self._command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                   env=env, cwd=self.root)
        if json.loads(process.stdout.readline() or "{}").get("ready") is not True:
            process.kill()
            process.wait()
            raise RuntimeError("the sandbox worker did not start")
        return process

    def _ask(self, job: dict[str, Any]) -> dict[str, Any]:
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        try:
            self.process.stdin.write(json.dumps(job) + "\n")
            self.process.stdin.flush()
            answer = json.loads(self.process.stdout.readline())
        except (OSError, ValueError) as exc:
            self.close()
            raise RuntimeError(f"the sandbox worker failed: {exc}") from None
        if not self.prewarmed:
            self.close()
        return answer

    def run(self, exercises: dict[str, tuple[str, list[Case], tuple[int, ...]]]) -> dict[str, Run]:
        """Run each exercise (name -> (cell source, cases, grad_args)) in its own child; how each went."""
        job_dir = Path(tempfile.mkdtemp(dir=self.root))
        try:
            job = self._job(job_dir, exercises)
            answer = self._ask(job)
            return {name: self._read(job_dir, name, answer[name], exercises[name]) for name in exercises}
        finally:
            shutil.rmtree(job_dir, ignore_errors=True)

    def _job(self, job_dir: Path, exercises: dict[str, tuple[str, list[Case], tuple[int, ...]]]) -> dict[str, Any]:
        if self.user:
            os.chown(job_dir, *self.user)
        specs = []
        for name, (source, cases, grad_args) in exercises.items():
            torch.save([(case.label, case.args) for case in cases], job_dir / f"{name}.cases")
            specs.append({"name": name, "source": source, "cases": f"{name}.cases", "grad_args": list(grad_args)})
        return {"dir": str(job_dir), "exercises": specs, "timeout": self.limits.timeout,
                "memory": self.limits.memory, "nproc": self.limits.nproc,
                "uid": self.user[0] if self.user else None, "gid": self.user[1] if self.user else None,
                "blocked": [str(Path(vitlearn.__file__).resolve().parent), str(CHAPTERS_DIR), *self.hidden]}

    def _read(self, job_dir: Path, name: str, end: dict[str, Any], exercise: tuple) -> Run:
        run = Run(end=str(end.get("end")), seconds=float(end.get("seconds", 0)), code=end.get("code"),
                  signal=end.get("signal"))
        if run.end != "exit" or run.code != 0:
            return run
        try:
            run.cell_error, run.outcomes = read_outcomes(job_dir / f"{name}.pt", len(exercise[1]), len(exercise[2]))
        except OutcomeError as exc:
            run.unreadable = str(exc)
        return run

    def close(self) -> None:
        """Stop the worker process (a later :meth:`run` starts a new one)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process.stdin.close()
            self.process.stdout.close()
            self.process = None

    def remove(self) -> None:
        """Stop the worker and delete its folder."""
        self.close()
        shutil.rmtree(self.root, ignore_errors=True)


def read_outcomes(path: Path, n_cases: int, n_grads: int) -> tuple[str | None, list[Outcome]]:
    """Load and validate a child's outcome file: (cell error or None, one Outcome per case)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise OutcomeError("the sandbox wrote no outcomes") from None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_OUTCOME_BYTES:
        raise OutcomeError("the outcome file is not a regular file of a sensible size")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as file:
        data = file.read(MAX_OUTCOME_BYTES + 1)
    try:
        result = torch.load(io.BytesIO(data), weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to load means the file is not the harness's
        raise OutcomeError(f"the outcome file is not plain tensors and strings ({type(exc).__name__})") from None
    if not isinstance(result, dict) or set(result) != {"cell_error", "outcomes"}:
        raise OutcomeError("the outcome file does not have the harness's layout")
    cell_error = _text(result["cell_error"], optional=True)
    if cell_error is not None:
        return cell_error, []
    outcomes = result["outcomes"]
    if not isinstance(outcomes, list) or len(outcomes) != n_cases:
        raise OutcomeError("the outcome file has the wrong number of cases")
    return None, [_outcome(item, n_grads) for item in outcomes]


def _outcome(item: Any, n_grads: int) -> Outcome:
    keys = {"output", "error", "raised", "inputs_modified", "warnings", "grads"}
    if not isinstance(item, dict) or set(item) != keys:
        raise OutcomeError("an outcome does not have the harness's layout")
    grads, warnings = item["grads"], item["warnings"]
    if not isinstance(grads, list) or len(grads) not in (0, n_grads) or not isinstance(warnings, list):
        raise OutcomeError("an outcome has malformed gradients or warnings")
    if type(item["raised"]) is not bool or type(item["inputs_modified"]) is not bool:
        raise OutcomeError("an outcome has malformed flags")
    return Outcome(output=_tensor(item["output"]), error=_text(item["error"], optional=True),
                   raised=item["raised"], inputs_modified=item["inputs_modified"],
                   warnings=[_text(w) for w in warnings[:20]], grads=[_tensor(g) for g in grads])


def _tensor(value: Any) -> torch.Tensor | None:
    """A plain, dense, CPU tensor of reasonable size (or None); anything else is refused."""
    if value is None:
        return None
    if (type(value) is not torch.Tensor or value.layout != torch.strided or value.device.type != "cpu"
            or value.numel() > MAX_TENSOR_ELEMENTS or value.requires_grad):
        raise OutcomeError("an outcome holds something other than a plain CPU tensor")
    return value.clone()


def _text(value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise OutcomeError("an outcome holds a non-text message")
    return value[:2000]
