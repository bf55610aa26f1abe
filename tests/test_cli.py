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


def test_every_job_options_class_can_live_in_one_process():
    """Beam parses all PipelineOptions classes loaded in a process with one parser: no flag may clash."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines import extract_postgres, generate  # noqa: F401

    options = PipelineOptions(["--output", "x", "--rows", "5", "--table", "t"]).get_all_options()
    assert options["output"] == "x" and options["rows"] == "5" and options["table"] == "t"
