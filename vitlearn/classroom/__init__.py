"""Classroom tools: release student notebooks and grade submissions in a sandbox.

* :mod:`~vitlearn.classroom.notebooks` reads the chapters (their exercises and points), writes
  student versions and extracts the solution cells of a submission;
* :mod:`~vitlearn.classroom.sandbox` runs solution cells in a forked, limited child process and
  reads back plain tensors (the child is driven by the standalone script ``_zygote.py``);
* :mod:`~vitlearn.classroom.grader` judges the outcomes with :mod:`vitlearn.checks.core` and
  writes grades, feedback and Gradescope results;
* :mod:`~vitlearn.classroom.commands` adds ``vitlearn release``, ``check`` and ``grade``.
"""
