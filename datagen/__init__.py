"""The dataset engine: specs (``spec``), their expression language (``expressions``), column types (``types``)
and the compiler that turns a spec into vectorised column generators (``engine``). The built-in datasets are
specs in ``datagen/datasets/``."""
