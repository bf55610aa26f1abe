"""Checks of an --output value shared by the jobs that write files."""

from __future__ import annotations

import os
import re

from pipelines import cli

_GCS = re.compile(r"^gs://([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(/.*)?$")


def check_output(output: str, datasets: list[str]) -> str:
    """A local folder or gs://bucket/prefix that can be written, with a folder (or nothing) per dataset."""
    if any(c in output for c in "*?[]{}"):
        raise cli.UsageError(f"--output: expected a folder path without wildcards (* ? [ ] {{ }}), got {output!r}")
    if output.lower().startswith("gs:") or "://" in output:
        if not _GCS.match(output.rstrip("/")):
            raise cli.UsageError(
                f"--output: expected a local folder or gs://BUCKET/prefix with a valid bucket name, got {output!r}")
        return output.rstrip("/")
    if not output.strip():
        raise cli.UsageError(f"--output: expected a local folder or gs://bucket/prefix, got {output!r}")
    output = output.rstrip("/") or "/"
    path = os.path.abspath(output)
    probe = path
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise cli.UsageError(f"--output: {output!r} is not a folder ({probe!r} is a file)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise cli.UsageError(f"--output: cannot write to {output!r} ({probe!r} is not writable)")
    for name in datasets:
        sub = os.path.join(path, name)
        if os.path.exists(sub) and not os.path.isdir(sub):
            raise cli.UsageError(f"--output: {sub!r} must be a folder for dataset {name!r}, but it is a file")
        if os.path.isdir(sub) and not os.access(sub, os.W_OK | os.X_OK):
            raise cli.UsageError(f"--output: cannot write to {sub!r}")
    return output
