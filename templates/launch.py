"""The Flex Template entry point (``FLEX_TEMPLATE_PYTHON_PY_FILE``): runs the job the image was built for.

The launcher passes every parameter as ``--name=value``; a boolean option arrives as ``--overwrite=true`` or
``=false``, which becomes the job's flag or nothing. The job then parses, checks and runs as on the command line.
"""

from __future__ import annotations

import importlib
import os
import sys

if __name__ == "__main__":  # the image's entry point runs this file: the project's root on the path first
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipelines.cli import JOBS as ALL_JOBS  # noqa: E402
from pipelines.cli import template_jobs  # noqa: E402

JOBS = template_jobs()  # the jobs with a template: one image each (cloudbuild.yaml)


def job_argv(job: str, argv: list[str]) -> list[str]:
    from templates.parameters import declared

    flags = {name for name, action in declared(job).items() if action.nargs == 0}
    out = []
    for arg in argv:
        name, _, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if name in flags and value:
            if value.strip().lower() == "true":
                out.append(f"--{name}")
            continue  # false: the flag is left out
        out.append(arg)
    return out


def main(argv=None) -> int:
    job = os.environ.get("PIPELINE_JOB", "")
    if job not in JOBS:
        print(f"templates.launch: PIPELINE_JOB={job!r}: expected one of {', '.join(JOBS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(ALL_JOBS[job].module)
    return module.main(job_argv(job, list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
