"""The data contract of the generated datasets, defined once.

Every other part of the project reads the columns, their types and their value domains from here: the
generators, the CSV and Parquet writers, the BigQuery schema JSON (``python -m transforms.schema``), the
ingestion function and the README's tables (a test keeps the README in step with this module).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

# BigQuery standard SQL type -> Arrow type of the column in Parquet and in generated record batches.
_ARROW_TYPES = {
    "STRING": pa.string(),
    "DATE": pa.date32(),
    "INT64": pa.int64(),
    "FLOAT64": pa.float64(),
}

# Value domains shared by both datasets (a client's favourite genres are film genres).
GENRES = (
    "Action", "Adventure", "Animation", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Horror", "Mystery", "Romance", "Thriller",
)
LANGUAGES = (
    "English", "Spanish", "French", "Hindi", "Chinese", "Japanese",
    "Italian", "German", "Korean", "Portuguese", "Russian", "Arabic",
)
MAIL_DOMAINS = (
    "gmail.com", "hotmail.com", "yahoo.com", "outlook.com", "orange.com", "icloud.com", "aol.com",
    "protonmail.com",
)
SEXES = ("Male", "Female")

# Film premieres are spread over this closed range. The end is fixed, not "today", so that the same seed
# gives the same rows on every day the pipeline runs.
PREMIERE_FIRST = datetime.date(1920, 1, 1)
PREMIERE_LAST = datetime.date(2025, 12, 31)
RUNTIME_MINUTES = (60, 360)
RATING_SCORE = (0.0, 10.0)
CREDIT_SCORE = (300, 850)
CLIENT_LANGUAGES_MAX = 3


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # BigQuery standard SQL type name
    description: str

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.type]


@dataclass(frozen=True)
class DatasetSchema:
    name: str
    description: str
    fields: tuple[Field, ...]
    merge_order: str = ""  # the column merged tables are written in descending order of (sql/merge.py)

    @property
    def column_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(f.name, f.arrow_type, nullable=False) for f in self.fields])

    def bigquery_schema(self, dates_as_text: bool = False) -> list[dict]:
        """The schema in the JSON form a BigQuery load job and ``bq load --schema`` take. ``dates_as_text``: DATE
        columns as STRING, for CSV written with a --date_format BigQuery does not parse as a date."""
        return [
            {"name": f.name, "type": "STRING" if dates_as_text and f.type == "DATE" else f.type, "mode": "REQUIRED",
             "description": f.description}
            for f in self.fields
        ]

    def csv_header(self) -> bytes:
        return (",".join(self.column_names) + "\n").encode("ascii")


FILMS = DatasetSchema(
    name="films",
    description="Synthetic films: one row per film.",
    merge_order="rating_score",
    fields=(
        Field("title", "STRING", "2 to 4 capitalised English words, e.g. 'Drive Billion Real'."),
        Field("genre", "STRING", "One of: " + ", ".join(GENRES) + "."),
        Field("premiere", "DATE",
              f"Premiere date, {PREMIERE_FIRST.isoformat()} to {PREMIERE_LAST.isoformat()}, more recent "
              "dates more frequent; ISO yyyy-mm-dd in CSV unless --date_format says otherwise."),
        Field("runtime", "INT64",
              f"Minutes, {RUNTIME_MINUTES[0]} to {RUNTIME_MINUTES[1]}, right-skewed around 100."),
        Field("rating_score", "FLOAT64",
              f"Score in [{RATING_SCORE[0]:g}, {RATING_SCORE[1]:g}] with two decimals, bell-shaped around 6.3."),
        Field("language", "STRING", "One of: " + ", ".join(LANGUAGES) + "; English the most frequent."),
        Field("author", "STRING", "A person's full name, first and last, by real name frequencies."),
    ),
)

CLIENTS = DatasetSchema(
    name="clients",
    description="Synthetic clients with their film preferences and credit score.",
    merge_order="credit_score",
    fields=(
        Field("name", "STRING", "First and last name, by real name frequencies."),
        Field("sex", "STRING", "Male or Female, consistent with the first name."),
        Field("mail", "STRING",
              "Lowercase ASCII address derived from the name, at one of: " + ", ".join(MAIL_DOMAINS) + "."),
        Field("client_movie_genres", "STRING",
              "Comma-joined film genres without repeats, 1 to all of them (fewer more frequent)."),
        Field("client_language_spoken", "STRING",
              f"Comma-joined languages without repeats, 1 to {CLIENT_LANGUAGES_MAX}."),
        Field("client_car", "STRING", "Car make and model from a real list, e.g. 'Kia Sorento'."),
        Field("credit_score", "INT64",
              f"Integer in [{CREDIT_SCORE[0]}, {CREDIT_SCORE[1]}], bell-shaped around 680."),
    ),
)

DATASETS: dict[str, DatasetSchema] = {s.name: s for s in (FILMS, CLIENTS)}


def get(name: str) -> DatasetSchema:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transforms.schema",
        description="Print the BigQuery schema JSON of a dataset (for bq load --schema or a load job), or write "
                    "every dataset's into a folder (as functions/schemas, shipped with the ingest function).")
    parser.add_argument("dataset", nargs="?", choices=sorted(DATASETS))
    parser.add_argument("--write", metavar="FOLDER", help="write <dataset>.json for every dataset into FOLDER")
    args = parser.parse_args(argv)
    if args.write:
        for name, schema in DATASETS.items():
            Path(args.write, f"{name}.json").write_text(schema_json(schema))
        return 0
    if not args.dataset:
        parser.error("name a dataset or give --write FOLDER")
    sys.stdout.write(schema_json(DATASETS[args.dataset]))
    return 0


def schema_json(schema: DatasetSchema) -> str:
    return json.dumps(schema.bigquery_schema(), indent=2) + "\n"


if __name__ == "__main__":
    sys.exit(main())
