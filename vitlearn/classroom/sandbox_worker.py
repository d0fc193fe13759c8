"""The sandbox worker, run as a standalone script: it imports torch, never vitlearn.

    python -I sandbox_worker.py CORE_PY [--once]

It loads ``run_case`` from the check framework's ``core.py`` by path (that file needs only
torch), warms torch up, then serves requests: one JSON line on stdin per submission, one JSON
line back on stdout. For each exercise it forks a child that starts a new session, drops to
the sandbox user, limits memory, CPU, file size and processes, hides vitlearn, runs the
solution cell on the cases the grader chose and writes the outcomes to ``<exercise>.pt`` in the
job folder. The worker waits with a wall-clock timeout, then kills the child's process group
and every orphan it adopted (it is a child subreaper). ``--once`` serves one request and exits:
the fresh-interpreter-per-submission baseline.
"""

import builtins
import contextlib
import ctypes
import importlib.util
import io
import json
import math
import os
import resource
import select
import signal
import sys
import time

import einops  # noqa: F401 - imported once here, so a child's ``import einops`` costs nothing
import torch
import torch.nn.functional as F

PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4
FILE_LIMIT = 16 * 2**20  # bytes any one file the child writes may reach (RLIMIT_FSIZE)
STREAM_LIMIT = 2**20  # bytes of print() output kept per stream
HARNESS_FAILED = 70  # the child's exit status when the harness itself failed (e.g. outcomes too large to save)


def load_core(path: str):
    """vitlearn/checks/core.py as a standalone module (it imports only torch)."""
    spec = importlib.util.spec_from_file_location("_vitlearn_run", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def warm_up() -> None:
    """Run the ops the exercises use once, so every forked child starts with them loaded."""
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    y = F.conv2d(x, torch.randn(4, 3, 4, 4), stride=4).flatten(2).transpose(1, 2)
    y = y + (F.unfold(x, 4, stride=4).transpose(1, 2) @ torch.randn(48, 4))
    z = F.interpolate(y[None], size=(3, 3), mode="bicubic").softmax(-1)
    (z.sum() + F.cross_entropy(y[:, 0], torch.tensor([0, 1]))).backward()
    torch.save({"a": [z.detach()]}, io.BytesIO())


class CappedStream(io.TextIOBase):
    """A text stream that keeps the first ``limit`` bytes written to ``fd`` and drops the rest."""

    def __init__(self, fd: int, limit: int) -> None:
        self.fd, self.left = fd, limit

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        data = str(text).encode("utf-8", "replace")[: self.left]
        self.left -= len(data)
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError:
            self.left = 0
        return len(text)


def redirect(name: str) -> None:
    """stdin from /dev/null, stdout/stderr to capped files; close every other inherited fd."""
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    for fd, stream in ((1, "stdout"), (2, "stderr")):
        os.dup2(os.open(f"{name}.{stream}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    sys.stdout, sys.stderr = CappedStream(1, STREAM_LIMIT), CappedStream(2, STREAM_LIMIT)


def virtual_memory() -> int:
    """This process's current address-space size in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def processes_of(uid: int) -> int:
    """How many processes ``uid`` runs now (RLIMIT_NPROC counts them all, not only ours)."""
    count = 0
    for entry in os.listdir("/proc"):
        try:
            count += entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid
        except OSError:
            pass
    return count


def limit(job: dict) -> None:
    """Memory (on top of what torch already maps), CPU time, file size, processes, no core dumps.

    The process limit counts every process of the user the child runs as: the sandbox user's, or,
    without root, the grader's own user (then the limit is what it runs now plus ``nproc``).
    """
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing
    cpu = math.ceil(job["timeout"]) + 1
    nproc = job["nproc"] + (0 if job.get("uid") is not None and os.geteuid() == 0 else processes_of(os.getuid()))
    for which, value in ((resource.RLIMIT_AS, virtual_memory() + job["memory"]),
                         (resource.RLIMIT_CPU, cpu), (resource.RLIMIT_FSIZE, FILE_LIMIT),
                         (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NPROC, nproc),
                         (resource.RLIMIT_NOFILE, 256)):
        resource.setrlimit(which, (value, value))


def drop_privileges(job: dict) -> None:
    """Become the sandbox user (when the worker runs as root), so the grader's files are read-only."""
    if job.get("uid") is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(job["gid"])
        os.setuid(job["uid"])


def hide(blocked: list[str]) -> None:
    """Refuse, for the rest of the process, importing vitlearn or opening the files ``blocked``
    names or any file under the folders it names.

    An audit hook cannot be removed once added, unlike an entry of ``sys.meta_path``.
    """
    for name in [n for n in sys.modules if n == "vitlearn" or n.startswith("vitlearn.")]:
        del sys.modules[name]
    paths = {os.path.realpath(path) for path in blocked}
    prefixes = tuple(os.path.join(path, "") for path in paths)

    def hook(event: str, args: tuple) -> None:
        if event == "import" and (args[0] == "vitlearn" or str(args[0]).startswith("vitlearn.")):
            raise ImportError(f"{args[0]} is not available while grading: write the solution yourself")
        if event == "open" and isinstance(args[0], (str, bytes)):
            path = os.path.realpath(os.fsdecode(args[0]))
            if path in paths or path.startswith(prefixes):
                raise PermissionError(f"{os.fsdecode(args[0])} is not readable while grading")

    sys.addaudithook(hook)


def describe(exc: BaseException) -> str:
    """``"TypeError: message"`` even when the exception's own ``__str__`` misbehaves."""
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a learner's exception may fail in any way
        text = "(the exception's message could not be printed)"
    return f"{type(exc).__name__}: {text}"[:2000]


def run_exercise(core, exercise: dict) -> dict:
    """Execute the answer, run the function on every case; plain data for the grader.

    The answer runs in a namespace as empty as a fresh notebook's: what it uses comes from its
    own imports and from those the grader took from the notebook's cells above it.
    """
    cases = torch.load(exercise["cases"], weights_only=True)
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    result = {"cell_error": None, "outcomes": []}
    try:
        exec(compile(  # noqa: S102 - running the solution cell is the point, in the sandbox
            exercise["source"], f"<{exercise['name']} cell>", "exec"), namespace)
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too: the cell is the learner's
        result["cell_error"] = describe(exc)
        return result
    fn = namespace.get(exercise["name"])
    if not callable(fn):
        result["cell_error"] = f"the cell does not define a function named {exercise['name']}"
        return result
    for label, args in cases:
        try:
            outcome = core.run_case(fn, core.Case(label, tuple(args)), tuple(exercise["grad_args"]))
        except BaseException as exc:  # noqa: BLE001 - SystemExit from the function, a failing __str__
            outcome = core.Outcome(error=describe(exc), raised=True)
        result["outcomes"].append({"output": outcome.output, "error": outcome.error, "raised": outcome.raised,
                                   "inputs_modified": outcome.inputs_modified,
                                   "warnings": [str(w)[:500] for w in outcome.warnings[:20]],
                                   "grads": list(outcome.grads)})
    return result


def child(core, job: dict, exercise: dict) -> None:
    """The forked child: isolate, run one exercise, write ``<name>.pt``; never returns."""
    try:
        os.setsid()
        os.chdir(job["dir"])
        redirect(exercise["name"])
        limit(job)
        drop_privileges(job)
        hide(job["blocked"])
        result = run_exercise(core, exercise)
        torch.save(result, f"{exercise['name']}.pt.part")
        os.rename(f"{exercise['name']}.pt.part", f"{exercise['name']}.pt")
        code = 0
    except BaseException as exc:  # noqa: BLE001 - whatever happens, the child must exit here
        with contextlib.suppress(OSError):
            os.write(2, f"sandbox: {describe(exc)}\n".encode())
        code = HARNESS_FAILED
    os._exit(code)


def children() -> list[int]:
    """Pids of this worker's children, orphans it adopted as subreaper included."""
    me, found = str(os.getpid()), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:  # fields: state, ppid, ...
                found.append(int(entry))
    return found


def sweep(group: int) -> None:
    """Kill the child's process group and every process left over (a child that outlived it)."""
    for _ in range(100):
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        left = children()
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def wait(pid: int, timeout: float) -> dict:
    """Wait for the child at most ``timeout`` seconds; how it ended.

    The grader sends nothing while it waits for an answer, so stdin becoming readable means it
    is gone (end of file): then the child is killed and the worker exits at once.
    """
    start = time.monotonic()
    pidfd = os.pidfd_open(pid)
    ready, _, _ = select.select([pidfd, sys.stdin.fileno()], [], [], timeout)
    os.close(pidfd)
    if pidfd not in ready:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    seconds = round(time.monotonic() - start, 3)
    sweep(pid)
    if ready == [sys.stdin.fileno()]:
        os._exit(0)
    if pidfd not in ready:
        return {"end": "timeout", "seconds": seconds}
    if os.WIFSIGNALED(status):
        return {"end": "signal", "signal": signal.Signals(os.WTERMSIG(status)).name, "seconds": seconds}
    return {"end": "exit", "code": os.WEXITSTATUS(status), "seconds": seconds}


def serve(core, job: dict) -> dict:
    """Run every exercise of one submission, each in its own forked child."""
    results = {}
    for exercise in job["exercises"]:
        pid = os.fork()
        if pid == 0:
            child(core, job, exercise)
        results[exercise["name"]] = wait(pid, job["timeout"])
    return results


def main(argv: list[str]) -> int:
    core = load_core(argv[1])
    torch.set_num_threads(1)
    warm_up()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if os.geteuid() != 0:  # children share its uid (inside bubblewrap): they may not ptrace it nor read its /proc
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        print(json.dumps(serve(core, json.loads(line))), flush=True)
        if "--once" in argv:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
