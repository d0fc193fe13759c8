"""``vitlearn chapters`` and ``vitlearn lab``: a learner's own copy of the book, opened in JupyterLab.

    vitlearn chapters --out DIR [--force]    copy the chapters vitlearn carries into DIR
    vitlearn lab [DIR] [--port N] [--no-browser]   copy them if needed, then open JupyterLab on DIR

The copy is the learner's: a later run brings in a newer vitlearn's chapters, but never writes over
a notebook the learner changed (or wrote) without ``--force``. What was copied is recorded, with each
file's SHA-256, in ``DIR/.vitlearn-chapters.json``; a file whose content still matches its record is
vitlearn's to update. Light at import: no torch, no Jupyter.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from vitlearn.classroom.notebooks import CHAPTERS_DIR, chapter_paths, no_chapters, write_atomic

RECORD = ".vitlearn-chapters.json"
DEFAULT_BOOK = Path("vitlearn-book")
LAB_NEEDS = ("jupyterlab", "ipykernel")  # JupyterLab to show the book, ipykernel to run it
LAB_EXTRA = 'pip install "vitlearn[notebooks]"'


class BookError(ValueError):
    """The book cannot be copied: no chapters to copy, or the folder cannot be written."""


@dataclass
class Copy:
    """What one copy of the book did: files written anew, updated, left as they were, kept as changed."""

    folder: Path
    written: list[Path] = field(default_factory=list)
    updated: list[Path] = field(default_factory=list)
    current: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        """One line: how many chapters, and what happened to them."""
        counts = [f"{len(self.written)} written", f"{len(self.updated)} updated", f"{len(self.current)} up to date"]
        if self.kept:
            counts.append(f"{len(self.kept)} kept as you changed them")
        total = len(self.written) + len(self.updated) + len(self.current) + len(self.kept)
        return f"{total} chapters in {self.folder}: {', '.join(counts)}"


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``chapters`` and ``lab`` subcommands to the ``vitlearn`` parser."""
    chapters = commands.add_parser("chapters", help="copy the book (the chapter notebooks) into a folder of yours",
                                   description="Copy the chapters vitlearn carries into DIR. A notebook you changed "
                                   "is never written over without --force; one you did not is updated.")
    chapters.add_argument("--out", type=Path, required=True, metavar="DIR", help="the folder for your copy")
    chapters.add_argument("--force", action="store_true", help="also replace notebooks you changed")
    chapters.set_defaults(run=_chapters)

    lab = commands.add_parser("lab", help="open the book in JupyterLab (copying it into DIR first if needed)",
                              description="Copy the chapters into DIR where they are missing (never over a "
                              f"notebook you changed), then start JupyterLab there. Needs {LAB_EXTRA}.")
    lab.add_argument("folder", nargs="?", type=Path, default=DEFAULT_BOOK, metavar="DIR",
                     help=f"your copy of the book (default: ./{DEFAULT_BOOK})")
    lab.add_argument("--port", type=int, help="the port JupyterLab listens on (default: its own, 8888 or the next free)")
    lab.add_argument("--no-browser", action="store_true", help="start the server without opening a browser")
    lab.set_defaults(run=_lab)


def sha256(path: Path) -> str:
    """The file's SHA-256, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fate(target: Path, new_digest: str, recorded: str | None, force: bool) -> str:
    """What a copy does to ``target``: ``written`` (it is missing), ``current`` (it holds the new text
    already), ``updated`` (it holds what vitlearn wrote there, or ``force``) or ``kept`` (changed)."""
    if not target.exists():
        return "written"
    digest = sha256(target)
    if digest == new_digest:
        return "current"
    return "updated" if force or digest == recorded else "kept"


def read_record(folder: Path) -> dict[str, str]:
    """File name -> SHA-256 of what vitlearn last wrote there ({} when there is no readable record)."""
    try:
        files = json.loads((folder / RECORD).read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(name): str(digest) for name, digest in files.items()} if isinstance(files, dict) else {}


def copy_book(folder: Path, *, force: bool = False, source: Path | None = None) -> Copy:
    """Copy the chapter notebooks of ``source`` (default: the chapters vitlearn carries) into
    ``folder``: a missing file is written, one that still holds what vitlearn wrote there is updated,
    one the learner changed (or that vitlearn did not write) is kept unless ``force``.
    :class:`BookError` when there is nothing to copy or the folder cannot be written."""
    source = CHAPTERS_DIR if source is None else source
    chapters = chapter_paths(source)
    if not chapters:
        raise BookError(f"no chapters to copy: {no_chapters(source)}")
    if folder.exists() and not folder.is_dir():
        raise BookError(f"{folder} is a file, not a folder")
    if folder.resolve() == source.resolve():  # `vitlearn lab chapters` in a checkout: the book itself, as it is
        return Copy(folder, current=[folder / chapter.name for chapter in chapters])
    record, done = read_record(folder), Copy(folder)
    try:
        for chapter in chapters:
            new, target = chapter.read_bytes(), folder / chapter.name
            digest = hashlib.sha256(new).hexdigest()
            what = fate(target, digest, record.get(chapter.name), force)
            getattr(done, what).append(target)
            if what in ("written", "updated"):
                write_atomic(target, new.decode("utf-8"))
            if what != "kept":
                record[chapter.name] = digest
        write_atomic(folder / RECORD, json.dumps({"files": record}, indent=1, sort_keys=True) + "\n")
    except OSError as exc:
        raise BookError(f"cannot write to {folder}: {exc.strerror or exc}") from None
    return done


def _chapters(args: argparse.Namespace) -> int:
    try:
        done = copy_book(args.out, force=args.force)
    except BookError as exc:
        print(f"vitlearn chapters: {exc}", file=sys.stderr)
        return 1
    _report(done)
    return 0


def _report(done: Copy) -> None:
    for path in done.written + done.updated:
        print(path)
    for path in done.kept:
        print(f"kept {path}: changed since vitlearn wrote it (--force replaces it)", file=sys.stderr)
    print(done.summary(), file=sys.stderr)


def missing_for_lab() -> list[str]:
    """The packages ``vitlearn lab`` needs that this Python lacks."""
    return [name for name in LAB_NEEDS if importlib.util.find_spec(name) is None]


def lab_command(folder: Path, *, port: int | None = None, browser: bool = True) -> list[str]:
    """The command that starts JupyterLab on ``folder`` with this Python (``--allow-root`` as root,
    as ``make lab`` does: Jupyter refuses root otherwise)."""
    command = [sys.executable, "-m", "jupyterlab", str(folder)]
    if port is not None:
        command.append(f"--port={port}")
    if not browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command


def _lab(args: argparse.Namespace) -> int:
    missing = missing_for_lab()
    if missing:
        print(f"vitlearn lab: JupyterLab is not installed here ({', '.join(missing)} missing); install it "
              f"with: {LAB_EXTRA}", file=sys.stderr)
        return 1
    try:
        done = copy_book(args.folder)
    except BookError as exc:
        print(f"vitlearn lab: {exc}", file=sys.stderr)
        return 1
    _report(done)
    command = lab_command(args.folder, port=args.port, browser=not args.no_browser)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)  # JupyterLab takes over this process: Ctrl-C and its exit status are its own
