"""The real command line: --help, and every bad input of the issue gives one line, exit 2, nothing written."""

import os

import pytest

from tests.helpers import run_cli

BAD = [
    (["--rows", "-5"], "'-5'"),
    (["--rows", "abc"], "'abc'"),
    (["--rows", "0"], "'0'"),
    (["--datasets", "films,unknown", "--rows", "10"], "'unknown'"),
    (["--format", "xml", "--rows", "10"], "'xml'"),
    (["--target_size", "2XB"], "'2XB'"),
    (["--rows", "10", "--target_size", "1GB"], "not both"),
    ([], "--rows"),
    (["--rows", "10", "--seed", "1.5"], "'1.5'"),
    (["--rows", "10", "--seed", "x"], "'x'"),
    (["--rows", "10", "--compression", "bz2"], "'bz2'"),
    (["--rows", "10", "--num_shards", "-1"], "'-1'"),
    (["--target_size", "films=1GB"], "'clients'"),
    (["--rows", "10", "--date_format", "yy"], "'yy'"),
    (["--rows"], "--rows"),
    (["--rows", "18446744073709551616"], "'18446744073709551616'"),
    (["--target_size", "9999999999TB"], "'9999999999TB'"),
    (["--target_size", "films=1MB,films=2MB,clients=1MB"], "'films'"),
    (["--rows", "10", "--date_format", "%Y%n%m%d"], "'%Y%n%m%d'"),
    (["--rows", "10", "--date_format", "%Y-%m-%d%z"], "'%Y-%m-%d%z'"),
    (["--rows", "10", "--date_format", "%-d/%m"], "'%-d/%m'"),
    (["--rows", "10", "--runner", "DirectRuner"], "'DirectRuner'"),
    (["--rows", "10", "--direct_num_workers", "x"], "'x'"),
    # --rows per dataset, refused as --target_size's pairs are
    (["--rows", "films=10"], "no row count for dataset 'clients'"),
    (["--rows", "films=10,films=20,clients=5"], "dataset 'films' has two row counts"),
    (["--rows", "films=10,movies=20,clients=5"], "'movies' is not a dataset of this run"),
    (["--rows", "films=10,clients"], "expected dataset=row count pairs such as clients=1000,orders=100000, got "
                                     "'clients'"),
    (["--rows", "films=0,clients=5"], "'0'"),
    (["--rows", "films=x,clients=5"], "'x'"),
    (["--rows", "1000", "--frmat", "parquet"], "--frmat: unknown option; did you mean --format?"),
]


@pytest.mark.parametrize("args,named", BAD, ids=[" ".join(a) or "nothing" for a, _ in BAD])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, named):
    out = tmp_path / "out"
    result = run_cli("pipelines.generate", "--output", str(out), *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0] and "error" in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()


def csv_rows(folder) -> list[list[str]]:
    import csv

    rows = []
    for shard in sorted(folder.glob("*.csv")):
        with open(shard, newline="") as f:
            rows += list(csv.reader(f))[1:]
    return rows


@pytest.mark.parametrize("clients", [1000, 3])
def test_rows_per_dataset_with_one_referencing_the_other(tmp_path, clients):
    """docs/examples/orders.yaml's client_id references clients: each dataset gets its own row count, and the
    references stay within the parent's rows, however few (3 clients for 20,000 orders)."""
    from tests.helpers import ROOT

    out = tmp_path / "out"
    result = run_cli("pipelines.generate", "--spec", str(ROOT / "docs" / "examples" / "orders.yaml"), "--datasets",
                     "clients", "--rows", f"orders=20000,clients={clients}", "--output", str(out), "--no_progress")
    assert result.returncode == 0, result.stderr
    assert len(csv_rows(out / "clients")) == clients
    orders = csv_rows(out / "orders")
    header = (out / "orders" / "orders-00000-of-00001.csv").read_text().splitlines()[0].split(",")
    client_ids = {int(row[header.index("client_id")]) for row in orders}
    assert len(orders) == 20000 and min(client_ids) >= 1 and max(client_ids) <= clients
    assert len(client_ids) > min(clients, 100) * 0.5  # spread over the clients, not all on one
    # One number still means every dataset
    again = run_cli("pipelines.generate", "--spec", str(ROOT / "docs" / "examples" / "orders.yaml"), "--datasets",
                    "clients", "--rows", "50", "--output", str(tmp_path / "same"), "--no_progress")
    assert again.returncode == 0, again.stderr
    assert len(csv_rows(tmp_path / "same" / "clients")) == len(csv_rows(tmp_path / "same" / "orders")) == 50


def test_output_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli("pipelines.generate", "--rows", "10", "--output", str(blocker / "out"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert str(blocker) in result.stderr
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere: the check above covers it
        result = run_cli("pipelines.generate", "--rows", "10", "--output", str(locked / "out"))
        assert result.returncode == 2 and "not writable" in result.stderr


@pytest.mark.slow
def test_bad_beam_options_and_wildcards_never_delete_earlier_shards(tmp_path):
    other = tmp_path / "other"
    assert run_cli("pipelines.generate", "--datasets", "films", "--rows", "10", "--output", str(other)).returncode == 0
    shard = other / "films" / "films-00000-of-00001.csv"
    for extra in (["--output", str(tmp_path / "o*")], ["--output", str(other), "--runner", "DirectRuner"],
                  ["--output", str(other), "--direct_num_workers", "x"]):
        result = run_cli("pipelines.generate", "--datasets", "films", "--rows", "10", "--overwrite", *extra)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert shard.exists()


def test_a_file_where_a_dataset_folder_goes(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "films").write_text("")
    result = run_cli("pipelines.generate", "--datasets", "clients,films", "--rows", "10", "--output", str(out))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["films"]


@pytest.mark.parametrize("output", ["gs://", "gs:///prefix", "gs://A_B/x", "s3://bucket/x"])
def test_bad_cloud_output(tmp_path, output):
    result = run_cli("pipelines.generate", "--rows", "10", "--output", output)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert repr(output) in result.stderr


def test_help_explains_every_option_with_its_default():
    result = run_cli("pipelines.generate", "--help")
    assert result.returncode == 0
    for option in ("--datasets", "--spec", "--rows", "--target_size", "--output", "--format", "--compression",
                   "--num_shards", "--seed", "--date_format", "--block_rows", "--overwrite"):
        assert option in result.stdout
    text = " ".join(result.stdout.split())
    assert "Default: films,clients, or none when --spec is given" in text
    assert "(default: 42)" in text and "(default: csv)" in text


@pytest.mark.slow
def test_a_real_run_prints_progress_and_a_summary(tmp_path):
    result = run_cli("pipelines.generate", "--rows", "300000", "--output", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    assert "of 300,000 rows" in result.stderr
    # Rates are over the run so far: once the first line said "131072000.00M rows/s" (timed from its first block)
    rates = [float(line.rsplit(", ", 1)[1].split("M rows/s")[0]) for line in result.stderr.splitlines()
             if line.endswith("M rows/s")]
    assert rates and max(rates) < 50, result.stderr
    table = [line.split() for line in result.stdout.splitlines()]
    assert table[0] == ["dataset", "rows", "files", "bytes", "seconds", "rows/s", "MB/s"]
    rows = {t[0]: int(t[1].replace(",", "")) for t in table[1:4]}
    assert rows == {"films": 300_000, "clients": 300_000, "total": 600_000}  # both made in one run
    # One pipeline makes both: its seconds and rates are the run's, shown once (they were repeated per dataset).
    assert [len(t) for t in table[1:4]] == [4, 4, 7]


@pytest.mark.slow
def test_ctrl_c_stops_the_run_and_leaves_nothing_behind(tmp_path):
    import signal
    import subprocess
    import sys

    from tests.helpers import ROOT

    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.generate", "--rows", "200000000", "--output", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    for line in proc.stderr:  # wait until rows are being written
        if "rows/s" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert [p for p in out.rglob("*") if p.is_file()] == []
    assert not [p for p in out.rglob("beam-temp-*")]


@pytest.mark.slow
def test_a_reader_that_goes_away_stops_the_job_quietly(tmp_path):
    # `... | head -1`: once, the run hung for good when its progress line met the closed pipe.
    import subprocess
    import sys

    from tests.helpers import ROOT

    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.generate", "--rows", "400000", "--output", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    proc.stdout.readline()
    proc.stdout.close()
    # The job stops at its next line: the second dataset's plan line, a progress line or the summary, as the
    # scheduling falls; whichever it is, it stops at once with SIGPIPE's status instead of hanging.
    assert proc.wait(timeout=120) == 141  # 128 + SIGPIPE, as a shell reports it


@pytest.mark.slow
def test_a_killed_runs_temporary_folder_is_named_by_the_next_run_and_removed_with_overwrite(tmp_path):
    # Once, a run killed with SIGKILL left hundreds of MB in beam-temp-films-*, and every later run said nothing.
    import signal
    import subprocess
    import sys

    from tests.helpers import ROOT

    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.generate", "--datasets", "films", "--rows", "200000000", "--output",
         str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    for line in proc.stderr:  # rows are being written into the temporary folder
        if "rows/s" in line:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    (left,) = list((out / "films").glob("beam-temp-films-*"))
    assert left.is_dir() and not list((out / "films").glob("films-*-of-*"))

    again = run_cli("pipelines.generate", "--datasets", "films", "--rows", "1000", "--output", str(out))
    assert again.returncode == 0, again.stderr
    note = [line for line in again.stderr.splitlines() if "temporary folder" in line]
    assert len(note) == 1 and f"rm -r '{left}'" in note[0], again.stderr
    assert left.is_dir()  # named, not removed: a run started beside this one could be writing there
    assert sum(len(csv_lines) - 1 for csv_lines in
               (p.read_text().splitlines() for p in (out / "films").glob("films-*-of-*"))) == 1000

    replaced = run_cli("pipelines.generate", "--datasets", "films", "--rows", "1000", "--output", str(out),
                       "--overwrite")
    assert replaced.returncode == 0 and "removed 1 temporary folder" in replaced.stderr, replaced.stderr
    assert not left.exists() and not list((out / "films").glob("beam-temp-*"))


@pytest.fixture
def small_disk(tmp_path):
    """A 20 MB tmpfs of the test's own (the tests run as root, in CI too)."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.fail(f"mounting a tmpfs needs root (the tests run as root in CI): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--num_shards", "2", "--format", "parquet", "--compression", "none"]])
def test_a_full_disk_stops_the_run_in_one_line_and_leaves_nothing(small_disk, extra):
    out = small_disk / "out"
    result = run_cli("pipelines.generate", "--rows", "1000000", "--output", str(out), "--no_progress", *extra)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if " rows (about " not in line]  # the plan, per dataset
    assert len(lines) == 1 and lines[0].startswith(
        f"python -m pipelines.generate: failed: no space left on the device of {out}/"), result.stderr
    assert lines[0].endswith(": the run stopped and removed its temporary files and shards")
    assert "Traceback" not in result.stderr
    assert [p for p in out.rglob("*") if p.is_file()] == []  # no shard, no schema file, no temporary file


def test_a_job_run_inside_a_longer_lived_process_gives_its_signal_handlers_back(tmp_path):
    import signal

    from pipelines import generate

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert generate.main(["--rows", "100", "--output", str(tmp_path / "out"), "--no_progress"]) == 0
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_the_size_printed_for_a_parquet_run_by_rows_is_close_to_what_is_written(tmp_path):
    """It was measured on 8,192-row groups, which compress far worse than the sink's (films: 41% over)."""
    import re

    out = tmp_path / "out"
    result = run_cli("pipelines.generate", "--datasets", "films", "--rows", "400000", "--format", "parquet",
                     "--output", str(out), "--no_progress")
    assert result.returncode == 0, result.stderr
    printed = float(re.search(r"about ([\d,]+) MB of parquet", result.stdout + result.stderr)[1].replace(",", ""))
    written = sum(p.stat().st_size for p in (out / "films").glob("films-*.parquet")) / 1e6
    assert abs(printed - written) <= 0.1 * written, (printed, written)


def test_datasets_that_cannot_be_planned_are_one_line(tmp_path):
    """The plan's errors (datagen.plan) as the job's one-line usage errors: a cycle of references, a reference to a
    dataset not in the run, a dataset given twice."""
    def spec(name, parent):
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"dataset: {name}\ncolumns:\n  - {{name: {parent}_id, generator: reference, dataset: "
                        f"{parent}}}\n")
        return str(path)

    a, b = spec("a", "b"), spec("b", "a")
    cases = [
        (["--spec", a, "--spec", b], "datasets reference each other in a cycle: a -> b -> a"),
        (["--spec", a], f"{a}: column 'b_id': references dataset 'b', which is not in this run: add it with "
                        "--datasets or --spec"),
        (["--spec", a, "--spec", b, "--spec", a], f"dataset 'a' is given twice ({a} and {a})"),
    ]
    out = tmp_path / "out"
    for args, line in cases:
        result = run_cli("pipelines.generate", *args, "--rows", "10", "--output", str(out))
        assert (result.returncode, result.stderr) == (2, f"python -m pipelines.generate: error: {line}\n"), args
        assert not out.exists()
