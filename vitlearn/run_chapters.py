"""Restart & Run All for chapters: ``python -m vitlearn.run_chapters chapters/*.ipynb`` (``make chapters``).

Executes each notebook top to bottom in a fresh kernel of this environment, in the
notebook's own folder, and saves it with its outputs (the form nbval re-checks).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def execute_in_place(path: Path, timeout: int = 600) -> float:
    """Run every cell of the notebook at ``path`` in a fresh kernel, save it; return seconds."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(notebook, path)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    for name in argv:
        print(f"{name}: executed in {execute_in_place(Path(name)):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
