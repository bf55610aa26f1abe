"""The data contract of a dataset, read from its spec: the columns written, their types and descriptions.

A dataset is defined once, in its spec (``datagen/datasets/<name>.yaml`` for the built-ins, any file for a
user's own); this module gives the views every other part reads: the CSV header, the Arrow/Parquet schema,
the BigQuery schema JSON (``python -m pipelines.contract films`` or ``--spec FILE``) and the README's tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

from datagen import spec as specs


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # BigQuery standard SQL type name
    description: str
    arrow_type: pa.DataType
    nullable: bool = False


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
        return pa.schema([pa.field(f.name, f.arrow_type, nullable=f.nullable) for f in self.fields])

    def bigquery_schema(self, dates_as_text: bool = False) -> list[dict]:
        """The schema in the JSON form a BigQuery load job and ``bq load --schema`` take. ``dates_as_text``: DATE
        columns as STRING, for CSV written with a --date_format BigQuery does not parse as a date."""
        return [
            {"name": f.name, "type": "STRING" if dates_as_text and f.type == "DATE" else f.type,
             "mode": "NULLABLE" if f.nullable else "REQUIRED", "description": f.description}
            for f in self.fields
        ]

    def csv_header(self) -> bytes:
        return (",".join(self.column_names) + "\n").encode("utf-8")


def from_spec(spec: specs.DatasetSpec) -> DatasetSchema:
    return DatasetSchema(
        name=spec.name, description=spec.description, merge_order=spec.merge_order,
        fields=tuple(Field(c.name, c.type.bigquery, c.description, c.type.arrow, c.nullable)
                     for c in spec.output_columns))


def _builtins() -> dict[str, DatasetSchema]:
    return {name: from_spec(specs.builtin(name)) for name in specs.builtin_names()}


# The built-in datasets, by name.
DATASETS: dict[str, DatasetSchema] = _builtins()
FILMS = DATASETS["films"]
CLIENTS = DATASETS["clients"]


def get(name: str) -> DatasetSchema:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}") from None


def schema_json(schema: DatasetSchema) -> str:
    return json.dumps(schema.bigquery_schema(), indent=2) + "\n"

