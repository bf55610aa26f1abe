"""A dataset's profile computed in Beam over Arrow record batches, and written as profile.json and profile.html.

The statistics are :mod:`datagen.stats`' (plain Python, each a partial result per record batch that merges with
any other, so they scale out on Dataflow and any bundle split gives the same answer); here they are wrapped in
CombineFns, with Beam's ``ApproximateQuantiles`` (101 quantiles: every percent) for the quantiles and a second
pass, with the merged min and max as a side input, for the histograms. The profile and its page are
:mod:`datagen.report`'s; they are written to temporary names, then moved in together.
"""

from __future__ import annotations

import uuid

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.stats import ApproximateQuantiles

from datagen.report.page import render_html
from datagen.report.profile import ProfilePlan, build_profile, profile_json
from datagen.stats.columns import ORDERED_KINDS, Column
from datagen.stats.distribution import NUM_QUANTILES, add_counts, histogram_counts, quantile_inputs
from datagen.stats.table import TableStats
from datagen.stats.top_values import BucketCounts, empty_tops, merge_tops, value_count_pieces
from functions.file_layout import PROFILE_FILES
from transforms.table_read import ReadTables

FILES = PROFILE_FILES
TEMP_MARK = ".tmp-"


class TableStatsFn(beam.CombineFn):
    """Record batches -> their :class:`~datagen.stats.table.TableStats`."""

    def __init__(self, columns: tuple[Column, ...], max_categories: int):
        self._columns = columns
        self._max_categories = max_categories

    def create_accumulator(self):
        return TableStats(self._columns, self._max_categories)

    def add_input(self, acc, batch):
        acc.add_batch(batch)
        return acc

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        first = next(accumulators)
        for acc in accumulators:
            first.merge(acc)
        return first

    def extract_output(self, acc):
        return acc


# --- exact top values in hash buckets -------------------------------------------------------------------------

class BucketCountsFn(beam.CombineFn):
    """The pieces of one bucket of a column -> {'values': summary, 'items': summary}
    (:class:`~datagen.stats.top_values.BucketCounts`)."""

    def __init__(self, top: int):
        self._top = top

    def create_accumulator(self):
        return BucketCounts()

    def add_input(self, acc, piece):
        return acc.add(piece)

    def merge_accumulators(self, accumulators):
        return BucketCounts.merged(accumulators)

    def extract_output(self, acc):
        return acc.summaries(self._top)


class MergeTopsFn(beam.CombineFn):
    """The buckets' results of one column -> the column's (:func:`~datagen.stats.top_values.merge_tops`)."""

    def __init__(self, top: int):
        self._top = top

    def create_accumulator(self):
        return empty_tops()

    def add_input(self, acc, result):
        return merge_tops([acc, result], self._top)

    def merge_accumulators(self, accumulators):
        return merge_tops(accumulators, self._top)

    def extract_output(self, acc):
        return acc


class TopValues(beam.PTransform):
    """Record batches -> (column, {'values': summary, 'items': summary}) for each string column, each summary
    {'distinct', 'total', 'top'} (items: of the comma-separated items; the values themselves in a column without
    commas)."""

    def __init__(self, columns: list[str], top: int, buckets: int):
        super().__init__()
        self._columns = columns
        self._top = top
        self._buckets = buckets

    def expand(self, batches):
        return (batches
                | "ValueCounts" >> beam.FlatMap(value_count_pieces, self._columns, self._buckets)
                | "SumPerBucket" >> beam.CombinePerKey(BucketCountsFn(self._top))
                | "ByColumn" >> beam.Map(lambda kv: (kv[0][0], kv[1]))
                | "MergeBuckets" >> beam.CombinePerKey(MergeTopsFn(self._top)))


# --- histograms -------------------------------------------------------------------------------------------------

class SumCountsFn(beam.CombineFn):
    def create_accumulator(self):
        return {}

    def add_input(self, acc, counts):
        return add_counts(acc, counts)

    def merge_accumulators(self, accumulators):
        out = {}
        for acc in accumulators:
            add_counts(out, acc)
        return out

    def extract_output(self, acc):
        return {name: c.tolist() for name, c in acc.items()}


# --- the whole profile ----------------------------------------------------------------------------------------

class ProfileStatistics(beam.PTransform):
    """Record batches -> a dict of PCollections: 'stats' (one TableStats), 'quantiles' ((column, values)),
    'top' ((column, {'values', 'items'})) and 'histograms' (one {column: counts})."""

    def __init__(self, plan: ProfilePlan):
        super().__init__()
        self._plan = plan

    def expand(self, batches):
        plan = self._plan
        ordered = [c for c in plan.columns if c.kind in ORDERED_KINDS]
        strings = [c.name for c in plan.columns if c.kind == "string"]
        stats = batches | "ColumnStats" >> beam.CombineGlobally(TableStatsFn(plan.columns, plan.max_categories))
        quantiles = (batches
                     | "QuantileInputs" >> beam.FlatMap(quantile_inputs, ordered)
                     | "Quantiles" >> ApproximateQuantiles.PerKey(NUM_QUANTILES, input_batched=True))
        top = batches | "TopValues" >> TopValues(strings, plan.top_values, plan.buckets)
        histograms = (batches
                      | "HistogramCounts" >> beam.FlatMap(histogram_counts, beam.pvalue.AsSingleton(stats), ordered,
                                                          plan.bins)
                      | "SumHistograms" >> beam.CombineGlobally(SumCountsFn()))
        return {"stats": stats, "quantiles": quantiles, "top": top, "histograms": histograms}


class WriteProfile(beam.DoFn):
    """The last step: builds the profile from the merged statistics and writes profile.json and profile.html
    (:func:`write_files`)."""

    def __init__(self, plan: ProfilePlan):
        self._plan = plan

    def process(self, _, stats, quantiles, top, histograms):
        profile = build_profile(self._plan, stats, quantiles, top, histograms)
        yield from write_files(self._plan.output, profile)


class ProfileDataset(beam.PTransform):
    """Parts of files -> profile.json and profile.html in the plan's output folder (their paths)."""

    def __init__(self, plan: ProfilePlan):
        super().__init__()
        self._plan = plan

    def expand(self, pbegin):
        plan = self._plan
        batches = (pbegin
                   | "Parts" >> beam.Create(list(plan.parts))
                   | "ReadFiles" >> ReadTables(plan.file_format, plan.schema, plan.types_from))
        results = batches | "Statistics" >> ProfileStatistics(plan)
        side = beam.pvalue
        return (pbegin
                | "Once" >> beam.Create([None])
                | "WriteProfile" >> beam.ParDo(
                    WriteProfile(plan), side.AsSingleton(results["stats"]), side.AsDict(results["quantiles"]),
                    side.AsDict(results["top"]), side.AsSingleton(results["histograms"])))


# --- writing ------------------------------------------------------------------------------------------------

def write_files(output: str, profile: dict) -> list[str]:
    """profile.json and profile.html in ``output``: both written under temporary names, then moved in by one
    journal (:mod:`transforms.replace`), so that a profile already there is replaced whole or not at all."""
    from transforms import replace

    contents = {
        "profile.json": (profile_json(profile), "application/json"),
        "profile.html": (render_html(profile).encode(), "text/html"),
    }
    mark = f"{TEMP_MARK}{uuid.uuid4().hex}"
    moves = []
    for name in FILES:
        data, mime = contents[name]
        temp = f"{output}/.{name}{mark}"
        with FileSystems.create(temp, mime_type=mime, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            f.write(data)
        moves.append((temp, f"{output}/{name}"))
    journal = journal_path(output, mark)
    replace.write_journal(journal, moves, [])
    replace.finish(journal)
    return [final for _, final in moves]


def journal_path(output: str, mark: str = TEMP_MARK + "*") -> str:
    """The journal of a profile being moved into ``output`` (a glob of them with the default ``mark``)."""
    return f"{output}/.profile.journal{mark}"
