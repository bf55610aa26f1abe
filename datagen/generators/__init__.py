"""The generators of the spec language, one class each (its keys, parameters and their checks, types, maker and
documented example: :class:`~datagen.generators.base.Generator`), in modules by family, known by name in
:data:`REGISTRY`. A new generator is a class in its family's module (or a module of its own) and one line
below; tests/test_generators.py then asks for its example in docs/spec.md and checks what it says."""

from datagen.generators import choices, expressions, numbers, references, text, time
from datagen.generators.base import REGISTRY, Example, Generator, Parameters, register

__all__ = ["REGISTRY", "Example", "Generator", "Parameters", "register"]

# In the order the spec's messages list the generators.
register(numbers.Sequence)
register(choices.Constant)
register(numbers.Uniform)
register(numbers.Normal)
register(numbers.LogNormal)
register(numbers.Quantiles)
register(choices.Categorical)
register(choices.Items)
register(time.DateRange)
register(time.TimestampRange)
register(text.Template)
register(expressions.Expression)
register(references.Reference)
register(numbers.Zipf)
register(numbers.Permutation)
