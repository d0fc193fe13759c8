"""The `vitlearn` command: a command whose optional package is missing names the extra to install."""

import argparse

from vitlearn import cli


def test_a_missing_extra_is_one_line_naming_it(monkeypatch, capsys):
    def needs_nbformat(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError("No module named 'nbformat'", name="nbformat")

    monkeypatch.setattr(cli, "_exercises", needs_nbformat)
    assert cli.main(["exercises"]) == 1
    assert capsys.readouterr().err == ('vitlearn exercises: needs nbformat, which is not installed here: '
                                       'pip install "vitlearn[classroom]"\n')
