from vitlearn.errata import shows_error


def test_shows_error_prints_the_error_and_continues(capsys):
    with shows_error():
        undefined_name  # noqa: F821
    with shows_error():
        pass
    assert capsys.readouterr().out == "❌ NameError: name 'undefined_name' is not defined\n✅ no error\n"
