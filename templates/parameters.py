"""The Flex Template of each job: its parameters are the job's own pipeline options, each with a label, the
option's help text and a validation regex. ``python -m templates.parameters`` writes
``templates/<job>/metadata.json`` from here; a test keeps them equal and checks the regexes.

Beam's own options (runner, project, region, temp_location, ...) are not parameters: the template launcher sets
them (upload's --project is its own option too, the project billed for the uploads: a parameter). Only the
regexes and labels are written here; the names and help texts come from the jobs' options, the jobs and their
titles from pipelines.cli.JOBS."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from datagen.spec import builtin_names
from functions.file_layout import PROJECT_ID
from pipelines.cli import JOBS, template_jobs
from transforms import formats

FOLDER = Path(__file__).resolve().parent
_GCS_PATH = r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/[^*?\[\]{}]*)?$"
_WHOLE = r"^[0-9][0-9_]*$"
_NAME = r"[a-z][a-z0-9_]{0,62}"  # a dataset's name, in name=value lists

# option -> (label, regex). A regex is what the template accepts; the job checks values again more closely.
SPEC = {
    "output": ("Output location", _GCS_PATH),
    "format": ("File format", "^(" + "|".join(formats.names()) + ")$"),
    "compression": ("Compression",
                    "^(" + "|".join(dict.fromkeys(c for f in formats.FORMATS.values() for c in f.compressions)) + ")$"),
    "num_shards": ("Files per dataset", _WHOLE),
    "overwrite": ("Replace earlier shards", r"^(true|false)$"),
    "datasets": ("Built-in datasets", "^(" + "|".join(builtin_names()) + ")(,(" + "|".join(builtin_names()) + "))*$"),
    "spec": ("Dataset spec file", _GCS_PATH),
    "rows": ("Rows per dataset", rf"^({_NAME}=)?[1-9][0-9_]*(,{_NAME}=[1-9][0-9_]*)*$"),
    "target_size": ("Size per dataset",
                    rf"^({_NAME}=)?[0-9]+(\.[0-9]+)?\s*[KMGT]i?B(,{_NAME}=[0-9]+(\.[0-9]+)?\s*[KMGT]i?B)*$"),
    "seed": ("Seed", r"^[0-9]{1,20}$"),
    "date_format": ("Date format in CSV", r"^[^\n\r]*%[^\n\r]*$"),
    "block_rows": ("Rows per block", r"^[1-9][0-9_]*$"),
    "no_progress": ("No progress lines", r"^(true|false)$"),
    "profile": ("Profile the datasets written", r"^(true|false)$"),
    # A DSN in a template parameter is recorded with the job: one with a password is refused, use dsn_file.
    "dsn": ("PostgreSQL DSN (no password)", r"^postgres(ql)?://[^:@/\s]+@(?![^\s]*[?&]password=)[^\s]+$"),
    "dsn_file": ("DSN file", _GCS_PATH),
    "table": ("Table", r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$"),
    "query": ("Query", r"^\s*(?i:select|with)\b[^;]*;?\s*$"),
    "partition_column": ("Partition column", r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$"),
    "partitions": ("Partitions", r"^[1-9][0-9]{0,3}$"),
    "lower_bound": ("Lowest key", r"^[^;'\"\\]{1,64}$"),
    "upper_bound": ("Highest key", r"^[^;'\"\\]{1,64}$"),
    "consistency": ("Consistency", r"^(snapshot|chunk)$"),
    "input": ("Input files", r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$"),
    "dataset": ("Dataset", r"^(" + "|".join(builtin_names()) + ")$"),
    "project": ("Project billed for the uploads", rf"^{PROJECT_ID}$"),
}

# Required in a template: a template's workers reach gs:// only, so there is no local default folder to fall
# back on (the command line's ./out), and a job without its input or output cannot start.
REQUIRED = {"input", "output"}

TITLES = {job: JOBS[job].template for job in template_jobs()}  # job -> (name, description) of its template


def declared(job: str) -> dict[str, argparse.Action]:
    """The job's own options (name -> argparse action), from the same classes its command line uses."""
    classes = importlib.import_module(JOBS[job].module).OPTIONS
    parser = argparse.ArgumentParser(add_help=False)
    for cls in classes:
        cls._add_argparse_args(parser)
    return {a.dest: a for a in parser._actions}


def metadata(job: str) -> dict:
    name, description = TITLES[job]
    parameters = []
    for option, action in declared(job).items():
        label, regex = SPEC[option]
        parameters.append({
            "name": option,
            "label": label,
            "helpText": " ".join((action.help or "").replace("%%", "%").split()),
            "isOptional": option not in REQUIRED,
            "regexes": [regex],
        })
    return {"name": name, "description": description, "parameters": parameters}


def metadata_text(job: str) -> str:
    return json.dumps(metadata(job), indent=2) + "\n"


def main() -> int:
    for job in TITLES:
        (FOLDER / job).mkdir(exist_ok=True)
        (FOLDER / job / "metadata.json").write_text(metadata_text(job))
    return 0


if __name__ == "__main__":
    sys.exit(main())
