"""Replacing a job's earlier files only once the new ones are whole, and finishing a replacement a killed run began.

A sink writes its new files under temporary names (Beam's temporary folder beside the shards). Only when every
one of them is written does its final step write a *journal* beside them: the renames to make (temporary path
-> final path: the shards, and the BigQuery schema staged as ``<schema>.pending``) and the earlier files to
delete (the earlier shards, and the profile that described them). Then it carries the journal out. Each step of
:func:`finish` can be done again, so a journal that a killed or interrupted run left is finished by the next
run that looks at the same output, or by the interrupted run itself on its way out: the earlier output stays as
it was until the new one is complete, and is then replaced by it whole. Until then nothing at the final paths is
touched, whatever stops the run.
"""

from __future__ import annotations

import json

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

JOURNAL = "REPLACING.json"  # in a sink's temporary folder
PENDING = ".pending"  # a companion file (the schema) written beside its final path, moved in by the journal


def exists(path: str) -> bool:
    try:
        return FileSystems.exists(path)
    except Exception:
        return False


def matching(pattern: str) -> list[str]:
    try:
        return [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]
    except Exception:  # no such folder yet
        return []


def write_journal(path: str, moves: list[tuple[str, str]], delete: list[str]) -> None:
    """The journal at ``path``, whole or not at all (an object appears on close; a local file is renamed in)."""
    data = json.dumps({"moves": [list(m) for m in moves], "delete": sorted(set(delete))}).encode()
    temp = path + ".tmp"
    with FileSystems.create(temp, mime_type="application/json",
                            compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)
    FileSystems.rename([temp], [path])


def finish(path: str) -> bool:
    """Carries out the journal at ``path`` (again, if it was begun): deletes the earlier files that no new file
    replaces, renames each new file still under its temporary name, removes the journal. False when there is no
    journal there."""
    if not exists(path):
        return False
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        journal = json.loads(f.read().decode())
    moves = [tuple(m) for m in journal["moves"]]
    finals = {dst for _, dst in moves}
    gone = [p for p in journal["delete"] if p not in finals and exists(p)]
    if gone:
        FileSystems.delete(gone)
    for src, dst in moves:  # in order: the schema before the shards, for the ingest function
        if exists(src):  # else renamed already
            FileSystems.rename([src], [dst])
    FileSystems.delete([path])
    return True


def finish_in(folder: str) -> bool:
    """Finishes the journal in a sink's temporary ``folder``, if there is one, and removes the folder."""
    if not finish(FileSystems.join(folder, JOURNAL)):
        return False
    remove_folder(folder)
    return True


def remove_folder(folder: str) -> None:
    """A temporary folder and all below it, local or gs:// (where a folder is the objects named below it)."""
    if folder.startswith("gs://"):
        below = matching(folder.rstrip("/") + "/**")
        if below:
            FileSystems.delete(below)
        return
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
