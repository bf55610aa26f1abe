"""The Makefile installs the project only when what the install reads has changed: every target depends on
``install``, and an install takes longer than ``make run``'s own work."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from tests.helpers import ROOT

INSTALL_INPUTS = ["setup.py", "requirements.txt", "pyproject.toml", "datagen/_gather.c"]


def dry_run(folder, target="install") -> str:
    done = subprocess.run(["make", "-n", "-C", str(folder), target, "VENV=venv"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_installs_once_then_again_only_when_an_install_file_changes(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for name in INSTALL_INPUTS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").touch()
    assert "pip install" in dry_run(tmp_path)  # never installed here

    (tmp_path / "venv" / ".installed").touch()  # as the install recipe does once pip succeeded
    assert "pip install" not in dry_run(tmp_path)
    assert "pip install" not in dry_run(tmp_path, "run")

    later = time.time() + 5
    os.utime(tmp_path / "requirements.txt", (later, later))
    assert "pip install" in dry_run(tmp_path, "run")
