"""Classroom tools: release student notebooks and grade submissions in a sandbox.

* :mod:`~vitlearn.classroom.notebooks` reads the chapters (their exercises and points) and
  submitted notebooks, untrusted, as plain JSON;
* :mod:`~vitlearn.classroom.release` writes student versions, for practice or assessment, and
  refuses a notebook whose markers or ids could leak an answer;
* :mod:`~vitlearn.classroom.answers` finds what the grader runs for an exercise: the solution
  cell and what it needs from the cells above, by parsing;
* :mod:`~vitlearn.classroom.sandbox` runs answers in a forked, limited child process and reads
  back plain tensors (the child is driven by the standalone script ``sandbox_worker.py``);
* :mod:`~vitlearn.classroom.grader` judges the outcomes with :mod:`vitlearn.checks.feedback`;
* :mod:`~vitlearn.classroom.gradebook` keeps the rows across batches and writes grades,
  feedback and Gradescope results;
* :mod:`~vitlearn.classroom.own_exercises` loads an instructor's own exercises;
* :mod:`~vitlearn.classroom.commands` adds ``vitlearn release``, ``check`` and ``grade``.
* :mod:`~vitlearn.classroom.autograder` adds ``vitlearn autograder``: a Gradescope autograder zip,
  and what it runs per submission.
"""
