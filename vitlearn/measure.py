"""Measuring on a shared machine: median timings, the machine in one line, a quadratic fit.

Used by chapter 00's attention-cost experiment (``vitlearn.anatomy``), by ``vitlearn train``
(the machine it trained on, in ``metrics.json``) and by the scripts in ``benchmarks/``.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch


def interleaved_medians(candidates: dict[str, Callable[[], object]], repeats: int = 15,
                        warmup: int = 2) -> dict[str, float]:
    """Median seconds per call of each candidate: ``warmup`` untimed calls each, then ``repeats``
    timed rounds that call them in turn (A, B, C, A, B, C, ...), so that drift in the machine's
    speed affects them all alike. One candidate is simply its median of ``repeats`` calls."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(samples) for name, samples in times.items()}


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the ``with`` block on ``count`` torch CPU threads, then restore the previous count.

    One thread makes small layers' timings steady on a shared machine, where several threads
    spend most of their time waiting for each other.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def machine() -> str:
    """One line naming the CPU, its cores, torch and its thread count, and Python."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), Python {platform.python_version()}")


def fit_quadratic(lengths: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """``(a, b)`` of ``value = a * N**2 + b`` fitted to the points ``(N, value)`` (at least two, values > 0)
    by least squares on the *relative* errors ``(a N^2 + b) / value - 1``: times that span several
    orders of magnitude all count, not only the largest."""
    if len(lengths) != len(values) or len(lengths) < 2 or min(values) <= 0:
        raise ValueError(f"need at least two (length, value) points with values > 0, got {len(lengths)} lengths "
                         f"and values {list(values)}")
    values = torch.tensor([float(v) for v in values], dtype=torch.float64)[:, None]  # (M, 1)
    design = torch.tensor([[float(n) ** 2, 1.0] for n in lengths], dtype=torch.float64)  # (M, 2)
    a, b = torch.linalg.lstsq(design / values, torch.ones_like(values)).solution.flatten().tolist()
    return a, b
