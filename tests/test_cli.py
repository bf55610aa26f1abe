from pipelines import cli


def test_failure_line_skips_a_wrapped_traceback():
    error = RuntimeError('Traceback (most recent call last):\n  File "x.py", line 1, in f\n    g()\n'
                         "IsADirectoryError: [Errno 21] Is a directory: 'out/films' [while running 'Write']")
    assert cli.failure_line(error).startswith("IsADirectoryError: [Errno 21]")
    assert cli.failure_line(ValueError()) == "ValueError"


def test_usage_error_is_one_line_and_exit_2(capsys):
    def run(argv):
        raise cli.UsageError("--rows: expected a positive whole number of rows, got '-5'")

    assert cli.main_wrapper("prog", run, []) == 2
    assert capsys.readouterr().err == "prog: error: --rows: expected a positive whole number of rows, got '-5'\n"
