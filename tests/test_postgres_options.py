"""pipelines.postgres_options: the PostgreSQL options that extract_postgres and seed_postgres share; every bad
value is a one-line usage error."""

import argparse

import pytest

from pipelines import cli
from pipelines.postgres_options import add_connection_args, dsn_from, table_identifier


def test_a_table_is_a_quoted_schema_and_name_and_nothing_else():
    assert table_identifier("transactions").strings == ("transactions",)
    assert table_identifier("public.tx_1$").strings == ("public", "tx_1$")
    for bad in ['go"od', "good; DROP TABLE x", "a b", "a.b.c", "1st", "", None]:
        with pytest.raises(cli.UsageError, match="^--table: expected a table name such as transactions"):
            table_identifier(bad)
    with pytest.raises(cli.UsageError, match=r"^--into: .*got 'x y'$"):
        table_identifier("x y", option="--into")


def test_the_dsn_options_are_read_and_checked(tmp_path):
    parser = argparse.ArgumentParser()
    add_connection_args(parser)
    assert vars(parser.parse_args([])) == {"dsn": None, "dsn_file": None}
    assert dsn_from(parser.parse_args([])) == ""  # libpq's PG* variables then
    assert dsn_from(parser.parse_args(["--dsn", "host=h dbname=db"])) == "host=h dbname=db"
    (tmp_path / "dsn").write_text("postgresql://u@h/db\n")
    (tmp_path / "dsn").chmod(0o600)
    assert dsn_from(parser.parse_args(["--dsn_file", str(tmp_path / "dsn")])) == "postgresql://u@h/db"
    for argv, message in [(["--dsn", "x", "--dsn_file", "y"], "give --dsn or --dsn_file, not both"),
                          (["--dsn", "postgresql://u:s3cret@[::1/db"], "--dsn: expected postgresql://"),
                          (["--dsn_file", str(tmp_path / "missing")], "--dsn_file: cannot read")]:
        with pytest.raises(cli.UsageError, match=f"^{message}") as e:
            dsn_from(parser.parse_args(argv))
        assert "s3cret" not in str(e.value)


@pytest.mark.parametrize("args,named", [(["--rows", "0"], "'0'"), (["--table", "a;b"], "'a;b'"),
                                        (["--seed", "-1"], "'-1'")])
def test_seed_postgres_checks_its_input_even_under_python_dash_o(args, named):
    """Its checks are real ones, not asserts (which python -O strips)."""
    import subprocess
    import sys

    from tests.helpers import ROOT

    done = subprocess.run([sys.executable, "-O", "-m", "pipelines.seed_postgres", *args], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 2 and named in done.stderr and done.stderr.count("\n") == 1, done.stderr
