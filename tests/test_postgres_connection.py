"""transforms.postgres.connection: where a DSN comes from, how it is shown (never with its password), and
connecting with retries."""

import psycopg2
import pytest

from transforms.postgres import connection


def test_a_password_is_split_off_and_never_shown():
    dsn = "postgresql://u:s3cretPW@h:5433/db"
    shown = connection.redact(dsn)
    assert "s3cretPW" not in shown and "***" in shown
    rest, password = connection.split_password(dsn)
    assert password == "s3cretPW" and "s3cretPW" not in rest
    assert connection.check_dsn(rest) == {"user": "u", "host": "h", "port": "5433", "dbname": "db"}
    assert connection.split_password("host=h dbname=db") == ("dbname=db host=h", None)
    assert connection.split_password("") == ("", None) and connection.redact("") == ""


def test_a_dsn_libpq_cannot_parse_is_named_by_its_scheme_only():
    for bad, shown in [("postgresql://u:pw@[::1/db", "postgresql://***"), ("host=h password", "***")]:
        assert connection.redact(bad) == shown
        with pytest.raises(ValueError, match=r"^--dsn: expected postgresql://") as e:
            connection.check_dsn(bad)
        assert "pw" not in str(e.value).replace("postgresql", "") and repr(shown) in str(e.value)


def test_the_dsn_comes_from_the_option_or_a_file(tmp_path):
    assert connection.read_dsn("host=h", None) == "host=h" and connection.read_dsn(None, None) == ""
    f = tmp_path / "dsn.txt"
    f.write_text("  host=h dbname=db password=pw\n")
    f.chmod(0o644)  # as most files are made: others may read it, and so libpq would refuse it as a password file
    with pytest.raises(ValueError, match=r"may be read by other users \(mode 0644\).*chmod 600") as e:
        connection.read_dsn(None, str(f))
    assert "pw" not in str(e.value).replace("password", "")
    f.chmod(0o600)
    assert connection.read_dsn(None, str(f)) == "host=h dbname=db password=pw"
    with pytest.raises(ValueError, match="not both"):
        connection.read_dsn("host=h", str(f))
    with pytest.raises(ValueError, match="--dsn_file: cannot read .*missing.txt"):
        connection.read_dsn(None, str(tmp_path / "missing.txt"))


def test_connect_names_itself_and_a_refused_login_fails_at_once_without_its_password(pg_dsn):
    conn = connection.connect(pg_dsn)
    with conn.cursor() as cur:
        cur.execute("SHOW application_name")
        assert cur.fetchone()[0] == "ml-dataset-pipeline"
    conn.close()
    parts = connection.check_dsn(pg_dsn)
    bad = psycopg2.extensions.make_dsn(**{**parts, "user": "no_such_role_y", "password": "s3cretPW"})
    with pytest.raises(connection.ConnectionFailed) as e:
        connection.connect(bad, retries=50)  # not retried: a login refused is no network blip
    assert "no_such_role_y" in str(e.value) and "s3cretPW" not in str(e.value) and "***" in str(e.value)


@pytest.mark.slow  # waits out the retries
def test_an_unreachable_server_fails_after_the_retries(monkeypatch):
    waits = []
    monkeypatch.setattr(connection.time, "sleep", waits.append)
    with pytest.raises(connection.ConnectionFailed, match=r"^cannot connect to PostgreSQL \(.*password=\*\*\*") as e:
        connection.connect("postgresql://postgres:pw@127.0.0.1:1/postgres", retries=3)
    assert "pw" not in str(e.value).replace("password", "") and "port=1" in str(e.value)
    assert len(waits) == 3 and waits[0] < waits[1] < waits[2]  # exponential back-off
