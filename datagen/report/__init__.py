"""Reports on datasets, from their statistics (:mod:`datagen.stats`), without Beam: ``profile`` (a profile as
data, profile.json) and ``page`` (its self-contained HTML page)."""
