"""The filters that change the case of text (``filter:`` of a choice, ``{column|filter}`` of a template)."""

from __future__ import annotations

from datagen.arrow import pa, pc

FILTERS = ("lower", "upper", "title")


def check(given: dict, where):
    """The ``filter`` key a column gives: one of :data:`FILTERS`, or None."""
    f = given.get("filter")
    if f is not None and f not in FILTERS:
        raise where.error(f"filter: unknown filter {f!r}: expected one of {', '.join(FILTERS)}")
    return f


def on_values(values: list, f: str | None) -> list:
    if f == "lower":
        return [v.lower() for v in values]
    if f == "upper":
        return [v.upper() for v in values]
    if f == "title":
        return [v.title() for v in values]
    return values


def on_text(text: pa.Array, f: str) -> pa.Array:
    return {"lower": pc.utf8_lower, "upper": pc.utf8_upper, "title": pc.utf8_title}[f](text)
