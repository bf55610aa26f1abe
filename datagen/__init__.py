"""The dataset engine: specs (``spec``), their expression language (``expressions``), column types (``types``)
and the compiler that turns a spec into vectorised column generators (``engine``), which draw from counter-based
random streams (``randomness``) and vocabularies (``vocabulary``, built by ``build_vocabulary`` into
``datagen/data/``). ``contract`` is a spec's data contract: its CSV header, Arrow and BigQuery schemas. The
built-in datasets are specs in ``datagen/datasets/``."""
