"""Print the BigQuery schema JSON of a dataset, or write every built-in dataset's into a folder.

    python -m pipelines.contract films
    python -m pipelines.contract --spec my_orders.yaml
    python -m pipelines.contract --write functions/schemas

The schemas come from the data contract (:mod:`datagen.contract`); this is its command line.
"""

from __future__ import annotations

import sys
from pathlib import Path

from datagen import spec as specs
from datagen.contract import DATASETS, from_spec, schema_json
from pipelines import cli

PROG = "python -m pipelines.contract"


def run(argv):
    parser = cli.parser(
        PROG, "Print the BigQuery schema JSON of a dataset (for bq load --schema or a load job), or write "
              "every built-in dataset's into a folder (as functions/schemas, shipped with the ingest function).")
    parser.add_argument("dataset", nargs="?", choices=sorted(DATASETS), help="a built-in dataset")
    parser.add_argument("--spec", metavar="FILE", help="a spec file (YAML or JSON, local or gs://) instead")
    parser.add_argument("--write", metavar="FOLDER", help="write <dataset>.json for every built-in into FOLDER")
    args = parser.parse_args(argv)
    if args.write:
        for name, schema in DATASETS.items():
            Path(args.write, f"{name}.json").write_text(schema_json(schema))
        return 0
    if args.spec:
        try:
            schema = from_spec(specs.load(args.spec))
        except specs.SpecError as e:
            raise cli.UsageError(str(e)) from None
        sys.stdout.write(schema_json(schema))
        return 0
    if not args.dataset:
        raise cli.UsageError("name a dataset, or give --spec FILE or --write FOLDER")
    sys.stdout.write(schema_json(DATASETS[args.dataset]))
    return 0


def main(argv=None) -> int:
    return cli.main_wrapper(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
