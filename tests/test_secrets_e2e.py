"""A password in the DSN, through the whole chain: a PostgreSQL server of the test's own that requires it (scram),
seed_postgres, extract_postgres to gs:// with --dsn and with --dsn_file, the local stack loading the files into
BigQuery. The password is then looked for, as bytes, in everything a user or an operator can see or that is
kept: every job's output and errors, the pipeline's graph and options, the counters, the workflow executions'
arguments, results and errors, every log and data file of the stack (Storage objects and staged files, BigQuery's
files, the function's log) and every file the test's folder holds. It is in none."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from local_cloud.stack import LocalStack
from pipelines import extract_postgres
from tests.helpers import run_cli
from tests.own_postgres import OwnPostgres

PASSWORD = "Vx7-kept-out-of-every-log-Q2m"
BUCKET = "secrets-bucket"
ROWS = 3000
pytestmark = [pytest.mark.slow, pytest.mark.servers]


def files_holding(folder: Path, secret: bytes) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if secret in path.read_bytes():
                    found.append(str(path))
            except OSError:
                pass
    return found


def test_a_dsn_password_is_in_no_log_error_metric_staged_file_or_option(tmp_path, monkeypatch, capsys):
    own = OwnPostgres(password=PASSWORD).start()
    seen: dict[str, bytes] = {}  # what was shown or recorded, by where
    try:
        with LocalStack(tmp_path / "stack", bucket=BUCKET) as stack:
            env = stack.client_env()
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            monkeypatch.delenv("PGPASSWORD", raising=False)

            seeded = run_cli("pipelines.seed_postgres", "--dsn", own.dsn, "--rows", str(ROWS), env=env)
            assert seeded.returncode == 0, seeded.stderr
            seen["seed_postgres"] = (seeded.stdout + seeded.stderr).encode()
            refused = run_cli("pipelines.extract_postgres", "--dsn", own.dsn.replace(PASSWORD, "not-the-password"),
                              "--table", "transactions", "--output", f"gs://{BUCKET}/refused", env=env)
            assert refused.returncode != 0 and "password authentication failed" in refused.stderr, refused.stderr
            seen["a refused login"] = (refused.stdout + refused.stderr).encode()

            # With --dsn, in this process, so that the pipeline it runs and its options can be looked at too.
            real_run_job = extract_postgres.run_job

            def observed(prog, pipeline, options, *args, **kwargs):
                seen["pipeline graph"] = pipeline.to_runner_api().SerializeToString()
                seen["pipeline options"] = json.dumps(options.get_all_options(), default=str).encode()
                done = real_run_job(prog, pipeline, options, *args, **kwargs)
                seen["counters"] = json.dumps(done.counters).encode()
                return done

            monkeypatch.setattr(extract_postgres, "run_job", observed)
            try:
                assert extract_postgres.main(["--dsn", own.dsn, "--table", "transactions", "--partitions", "2",
                                              "--output", f"gs://{BUCKET}/with-dsn", "--format", "parquet"]) == 0
            finally:
                os.environ.pop("PGPASSWORD", None)  # the job hands the password to libpq through it
            printed = capsys.readouterr()
            seen["extract_postgres --dsn"] = (printed.out + printed.err).encode()

            dsn_file = tmp_path / "dsn.txt"
            dsn_file.write_text(own.dsn + "\n")
            dsn_file.chmod(0o600)
            from_file = run_cli("pipelines.extract_postgres", "--dsn_file", str(dsn_file), "--table", "transactions",
                                "--output", f"gs://{BUCKET}/with-dsn-file", env=env)
            assert from_file.returncode == 0, from_file.stderr
            seen["extract_postgres --dsn_file"] = (from_file.stdout + from_file.stderr).encode()

            executions = stack.wait_settled()
            assert executions and all(e.state == e.State.SUCCEEDED for e in executions), [
                e.error.payload for e in executions]
            for table in ("with_dsn", "with_dsn_file"):
                loaded = stack.bigquery().query(f"SELECT count(*) AS n FROM {stack.dataset}.{table}").result()
                assert next(iter(loaded))["n"] == ROWS
            for e in executions:
                seen[f"execution {e.name}"] = (e.argument + e.result + e.error.payload).encode()
            status = run_cli("local_cloud.status", "--limit", "100", "--full", env=env)
            seen["local_cloud.status"] = (status.stdout + status.stderr).encode()
        # The stack has stopped: its logs are complete.
        secret = PASSWORD.encode()
        assert [where for where, text in seen.items() if secret in text] == []
        files = files_holding(tmp_path, secret)
        assert files == [str(dsn_file)]  # the user's own file, and nothing else
        assert len(seen) >= 10 and len(list((tmp_path / "stack").rglob("*.log"))) >= 3
    finally:
        own.remove()
