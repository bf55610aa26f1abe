"""A run's seed: any whole number of 64 bits (:func:`datagen.randomness.stream_key` takes them all), 42 unless
given. Kept apart from the engine so that a job's ``--help``, which shows them, imports no numpy."""

SEED_BITS = 64
MAX_SEED = (1 << SEED_BITS) - 1
SEED_RANGE = f"0 to 2**{SEED_BITS}-1"  # as the commands say it
DEFAULT_SEED = 42
