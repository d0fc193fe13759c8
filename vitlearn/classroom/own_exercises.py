"""An instructor's own exercises: a Python module loaded by path, merged with the course's.

The module (``exercises.py`` beside the instructor's notebook, or the file ``--exercises``
names) defines ``EXERCISES = {name: Exercise(...)}`` with :mod:`vitlearn.checks.core`. It is
trusted instructor code: it runs in the grader's process, never in the sandbox, and the sandbox
may not read it. Everything wrong with it is an :class:`ExercisesError` in one line.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import sys
from collections.abc import Mapping
from pathlib import Path

import torch

from vitlearn.checks.core import Case, Exercise, run_case

BESIDE = "exercises.py"  # the module found beside the notebook that --chapter names


class ExercisesError(ValueError):
    """An exercises module that cannot be used, or that clashes with the course (one line)."""


def beside(notebook: Path) -> Path | None:
    """The exercises module by convention: ``exercises.py`` in the notebook's folder (None without one)."""
    path = notebook.parent / BESIDE
    return path if path.is_file() else None


def load_exercises(path: Path) -> dict[str, Exercise]:
    """The ``EXERCISES`` the module at ``path`` defines, each checked: its cases can go to the
    sandbox and its reference runs on them."""
    module = _run_module(path)
    exercises = getattr(module, "EXERCISES", None)
    if not isinstance(exercises, dict) or not exercises:
        raise ExercisesError(f"{path}: define EXERCISES = {{name: Exercise(...)}}, a dict of at least one exercise")
    for name, exercise in exercises.items():
        if not isinstance(exercise, Exercise) or exercise.name != name:
            raise ExercisesError(f"{path}: EXERCISES[{name!r}] must be an Exercise named {name!r} "
                                 "(vitlearn.checks.core.Exercise)")
        _check_cases(path, exercise)
    return dict(exercises)


def merge(course: Mapping[str, Exercise], own: Mapping[str, Exercise], path: Path) -> dict[str, Exercise]:
    """The course's exercises and the module's; a name in both is an error unless it is the same object."""
    for name, exercise in own.items():
        if name in course and course[name] is not exercise:
            raise ExercisesError(f"{path}: exercise {name!r} clashes with the course's exercise {name!r} "
                                 f"(vitlearn.checks: {course[name].signature}); give yours another name")
    return {**course, **own}


def _run_module(path: Path) -> object:
    """Import the module at ``path`` under a private name of its own."""
    if not path.is_file():
        raise ExercisesError(f"{path}: no such file (the exercises module)")
    name = f"_vitlearn_own_exercises_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ExercisesError(f"{path}: not a Python module (name it *.py)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses defined in the module look it up
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the instructor's module may fail in any way: one line, no traceback
        sys.modules.pop(name, None)
        raise ExercisesError(f"{path}: cannot load it: {type(exc).__name__}: {exc}") from None
    return module


def _check_cases(path: Path, exercise: Exercise) -> None:
    """Every case of ``exercise`` is a :class:`Case` the sandbox can load, and the reference runs on it."""
    where = f"{path}: exercise {exercise.name!r}"
    try:
        cases = exercise.make_cases()
    except Exception as exc:  # noqa: BLE001 - instructor code
        raise ExercisesError(f"{where}: make_cases() raised {type(exc).__name__}: {exc}") from None
    if not isinstance(cases, list) or not cases or not all(isinstance(case, Case) for case in cases):
        raise ExercisesError(f"{where}: make_cases() must return a non-empty list of Case")
    for case in cases:
        buffer = io.BytesIO()
        try:
            torch.save((case.label, case.args), buffer)
            buffer.seek(0)
            torch.load(buffer, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - whatever torch refuses
            raise ExercisesError(f"{where}: case {case.label!r} cannot go to the sandbox (use tensors, numbers, "
                                 f"strings, tuples and lists as arguments): {type(exc).__name__}: {exc}") from None
        outcome = run_case(exercise.reference, case, exercise.grad_args)
        if outcome.error is not None:
            raise ExercisesError(f"{where}: the reference fails on case {case.label!r}: {outcome.error}")
