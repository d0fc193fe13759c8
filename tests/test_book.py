"""`vitlearn chapters` and `vitlearn lab`: a learner's own copy of the book, never written over once changed."""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from vitlearn import book
from vitlearn.book import RECORD, copy_book
from vitlearn.classroom.notebooks import CHAPTERS_DIR, chapter_paths
from vitlearn.cli import main

CHAPTERS = [path.name for path in chapter_paths()]


class Launched(Exception):
    """Raised by the stand-in for ``os.execv``: the command JupyterLab would have been started with."""


@pytest.fixture
def launch(monkeypatch) -> list[list[str]]:
    """Record, instead of running, the command ``vitlearn lab`` hands its process to."""
    commands: list[list[str]] = []

    def execv(path: str, argv: list[str]) -> None:
        commands.append(argv)
        raise Launched

    monkeypatch.setattr(book.os, "execv", execv)
    return commands


def newer_book(tmp_path: Path, chapter: str) -> Path:
    """A copy of the course's chapters in which ``chapter`` gained a cell (as a newer vitlearn's would)."""
    source = tmp_path / "newer"
    source.mkdir()
    for path in chapter_paths():
        shutil.copy(path, source)
    notebook = json.loads((source / chapter).read_text())
    notebook["cells"].append({"cell_type": "markdown", "id": "new-cell", "metadata": {}, "source": "New."})
    (source / chapter).write_text(json.dumps(notebook, indent=1))
    return source


def test_chapters_writes_the_whole_book_as_it_is(tmp_path, capsys):
    assert main(["chapters", "--out", str(tmp_path / "book")]) == 0
    assert sorted(p.name for p in (tmp_path / "book").glob("*.ipynb")) == CHAPTERS
    for name in CHAPTERS:
        assert (tmp_path / "book" / name).read_bytes() == (CHAPTERS_DIR / name).read_bytes()
    out, err = capsys.readouterr()
    assert out.splitlines() == [str(tmp_path / "book" / name) for name in CHAPTERS]
    assert f"{len(CHAPTERS)} chapters in {tmp_path / 'book'}: {len(CHAPTERS)} written" in err


def test_a_notebook_the_learner_changed_is_kept_unless_force(tmp_path, capsys):
    folder = tmp_path / "book"
    assert main(["chapters", "--out", str(folder)]) == 0
    mine = folder / CHAPTERS[1]
    mine.write_text(mine.read_text().replace("image2emb_naive", "my_answer", 1))
    capsys.readouterr()
    assert main(["chapters", "--out", str(folder)]) == 0
    assert "my_answer" in mine.read_text()
    err = capsys.readouterr().err
    assert f"kept {mine}: changed since vitlearn wrote it (--force replaces it)" in err
    assert f"{len(CHAPTERS) - 1} up to date, 1 kept as you changed them" in err
    assert main(["chapters", "--out", str(folder), "--force"]) == 0
    assert mine.read_bytes() == (CHAPTERS_DIR / mine.name).read_bytes()


def test_a_notebook_vitlearn_did_not_write_is_kept(tmp_path):
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / CHAPTERS[0]).write_text("my own notes")
    done = copy_book(folder)
    assert done.kept == [folder / CHAPTERS[0]] and len(done.written) == len(CHAPTERS) - 1
    assert (folder / CHAPTERS[0]).read_text() == "my own notes"


def test_an_unchanged_copy_is_brought_up_to_date_by_a_newer_book(tmp_path):
    folder, chapter = tmp_path / "book", CHAPTERS[2]
    copy_book(folder)
    done = copy_book(folder, source=newer_book(tmp_path, chapter))
    assert done.updated == [folder / chapter] and not done.kept and not done.written
    assert "New." in (folder / chapter).read_text()
    assert json.loads((folder / RECORD).read_text())["files"][chapter] == book.sha256(folder / chapter)


def test_a_changed_copy_is_not_updated_by_a_newer_book(tmp_path):
    folder, chapter = tmp_path / "book", CHAPTERS[2]
    copy_book(folder)
    (folder / chapter).write_text((folder / chapter).read_text().replace('"outputs": []', '"outputs": [ ]', 1))
    mine = (folder / chapter).read_bytes()
    done = copy_book(folder, source=newer_book(tmp_path, chapter))
    assert done.kept == [folder / chapter] and (folder / chapter).read_bytes() == mine


def test_no_chapters_to_copy_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(book, "CHAPTERS_DIR", tmp_path / "nowhere")
    assert main(["chapters", "--out", str(tmp_path / "book")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vitlearn chapters: no chapters to copy: ")
    assert not (tmp_path / "book").exists()


def test_a_file_in_the_way_is_one_line_and_exit_1(tmp_path, capsys):
    (tmp_path / "book").write_text("")
    assert main(["chapters", "--out", str(tmp_path / "book")]) == 1
    assert capsys.readouterr().err == f"vitlearn chapters: {tmp_path / 'book'} is a file, not a folder\n"


def test_lab_copies_the_book_then_starts_jupyterlab_on_it(tmp_path, launch):
    with pytest.raises(Launched):
        main(["lab", str(tmp_path / "book"), "--port", "9123", "--no-browser"])
    assert sorted(p.name for p in (tmp_path / "book").glob("*.ipynb")) == CHAPTERS
    root = ["--allow-root"] if os.geteuid() == 0 else []
    assert launch == [[sys.executable, "-m", "jupyterlab", str(tmp_path / "book"), "--port=9123", "--no-browser",
                       *root]]


def test_lab_opens_the_learner_s_copy_as_it_is(tmp_path, launch):
    folder = tmp_path / "book"
    copy_book(folder)
    (folder / CHAPTERS[0]).write_text("{}")
    with pytest.raises(Launched):
        main(["lab", str(folder)])
    assert (folder / CHAPTERS[0]).read_text() == "{}"


def test_lab_on_the_checkout_s_chapters_writes_nothing_there(launch):
    with pytest.raises(Launched):
        main(["lab", str(CHAPTERS_DIR)])
    assert not (CHAPTERS_DIR / RECORD).exists()


def test_lab_without_jupyterlab_names_the_extra_to_install(tmp_path, monkeypatch, launch, capsys):
    monkeypatch.setattr(book.importlib.util, "find_spec", lambda name: None)
    assert main(["lab", str(tmp_path / "book")]) == 1
    assert capsys.readouterr().err == ("vitlearn lab: JupyterLab is not installed here (jupyterlab, ipykernel "
                                       'missing); install it with: pip install "vitlearn[notebooks]"\n')
    assert not launch and not (tmp_path / "book").exists()


def test_in_a_checkout_the_book_is_read_where_it_is():
    assert CHAPTERS_DIR == Path(__file__).resolve().parents[1] / "chapters"
