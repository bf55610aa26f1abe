"""Installs the project's packages, for local runs and for Dataflow workers (``--setup_file ./setup.py``)."""

from pathlib import Path

from setuptools import Extension, find_packages, setup

# Pinned in one place: the launcher and the workers must run the same Beam and the same libraries.
REQUIREMENTS = [line.split("#")[0].strip() for line in
                (Path(__file__).resolve().parent / "requirements.txt").read_text().splitlines()]
# The packages, by where they run. The image (Dockerfile: it copies exactly these) and Dataflow's workers run the
# jobs and the library; a test checks that these hold every module the template jobs import.
IMAGE_PACKAGES = ["datagen", "functions", "mldp", "pipelines", "transforms"]
# Commands run from a user's machine only: the BigQuery SQL installer and the local emulator stack.
LOCAL_PACKAGES = ["local_cloud", "sql"]

setup(
    name="ml-dataset-pipeline",
    version="0.1.0",
    description="Apache Beam pipelines that generate and extract multi-GB ML training datasets and land "
                "them in BigQuery.",
    license="Apache-2.0",
    python_requires=">=3.10",
    # functions/ has no __init__.py (the Cloud Function deploys from that folder alone): named here, or an
    # installed job run from another folder could not import functions.file_layout.
    packages=find_packages(include=[p for top in IMAGE_PACKAGES + LOCAL_PACKAGES for p in (top, f"{top}.*")])
    + ["functions"],
    package_data={"datagen": ["datasets/*.yaml", "data/*.json"],
                  "functions": ["schemas/*.json", "requirements.txt"]},
    install_requires=[r for r in REQUIREMENTS if r],
    # `mldp generate ...`, `mldp --help`: every job under one command, beside `python -m pipelines.<job>`
    entry_points={"console_scripts": ["mldp = pipelines.cli:mldp"]},
    # The gather loop of string composition and of the CSV encoder in C. Optional: without a C compiler the
    # install goes on and datagen/text.py uses Arrow's take (the same bytes, more slowly: benchmarks/README.md).
    ext_modules=[Extension("datagen._gather", ["datagen/_gather.c"], optional=True,
                           extra_compile_args=["-O3"])],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "pytest-xdist==3.8.0",  # make test runs the suite on two processes (-n 2): most tests wait on servers
            "ruff>=0.6",
            "gcp-storage-emulator>=2024.8",
            # The local ingest stack: the function under its real framework. bqemulator and workflows-emulator
            # pin clashing packages and get virtual environments of their own (local_cloud/tools.py).
            "functions-framework==3.10.2",
        ],
        "vocabulary": ["faker-vehicle==0.2.0"],
        # benchmarks/learnability.py only; never needed to generate, extract or load
        "bench": ["scikit-learn>=1.5"],
    },
)
