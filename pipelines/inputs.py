"""Which files a job reads: ``--input``, declared once for every job that takes it."""

from __future__ import annotations

import glob
import os
import re

from pipelines import cli

_WILDCARD = re.compile(r"[*?\[]")


class InputOptions(cli.JobOptions):
    """Which files a job reads. Declared once for every job that takes ``--input`` (Beam parses the options of
    all the jobs' classes loaded in a process with one parser: :func:`pipelines.cli.beam_view`)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--input", default=None,
                            help="A folder (every file below it), a file, or a glob pattern ('**' for any depth); "
                                 "local or gs://.")


def list_inputs(pattern: str) -> tuple[list[str], str]:
    """The files an --input names and the base their relative paths start from."""
    if pattern.startswith("gs://"):
        if not _WILDCARD.search(pattern):
            if _matches(pattern.rstrip("/")) == [pattern.rstrip("/")]:  # one object
                return [pattern.rstrip("/")], pattern.rstrip("/").rsplit("/", 1)[0]
            pattern = pattern.rstrip("/") + "/**"  # a folder
        base = _WILDCARD.split(pattern, 1)[0].rsplit("/", 1)[0]
        return sorted(f for f in _matches(pattern) if not f.endswith("/")), base
    if os.path.isdir(pattern):
        base = pattern.rstrip("/") or "/"
        files = [os.path.join(d, n) for d, _, names in os.walk(base) for n in names]
    elif _WILDCARD.search(pattern):
        base = os.path.dirname(_WILDCARD.split(pattern, 1)[0]) or "."
        files = [f for f in glob.glob(pattern, recursive=True) if os.path.isfile(f)]
    else:
        base, files = os.path.dirname(pattern) or ".", [pattern] if os.path.isfile(pattern) else []
    return sorted(files), base


def _matches(pattern: str) -> list[str]:
    try:
        return [m.path for r in _filesystems().match([pattern]) for m in r.metadata_list]
    except Exception:  # Beam reports "no match" as an error for some filesystems
        return []


def _filesystems():
    """Beam's file systems (local, gs://), imported when a path is first looked at, not with this module."""
    from apache_beam.io.filesystems import FileSystems

    return FileSystems
