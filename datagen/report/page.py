"""A dataset's profile as one self-contained HTML page.

The page needs no network: every plot is a PNG made by matplotlib (Agg, no display) and embedded as a base64
data URI; the style is a few lines of inline CSS (a grid of cards).
"""

from __future__ import annotations

import base64
import html
import io
import threading

from datagen.stats.columns import ORDERED_KINDS

CHART_BARS = 12  # top values drawn per chart (the JSON keeps --top_values of them)
PAIR_CHARTS = 4  # per category column: charts of the first numeric columns (the table has them all)
# matplotlib's fonts are shared objects: two pages drawn at once (two datasets in one local run) take turns
_DRAWING = threading.Lock()


CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;background:#f3f4f6;
color:#1f2328}
header{background:#fff;border-bottom:1px solid #d0d7de;padding:14px 24px}
h1{margin:0 0 2px;font-size:22px}
h2{margin:22px 0 10px;font-size:17px}
h3{margin:0 0 4px;font-size:15px}
.sub{color:#57606a;margin:0 0 10px;font-size:12.5px;word-break:break-all}
main{padding:4px 24px 24px;max-width:1600px}
.tiles{display:flex;flex-wrap:wrap;gap:10px}
.tile{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:6px 12px;min-width:96px}
.tile b{display:block;font-size:17px;font-variant-numeric:tabular-nums}
.tile span{color:#57606a;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(590px,1fr));gap:14px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 12px;min-width:0}
.wide{grid-column:1/-1}
.badge{font-size:11px;font-weight:600;color:#0969da;background:#ddf4ff;border-radius:10px;padding:1px 7px;
margin-left:6px;vertical-align:2px}
.desc{color:#57606a;font-size:12.5px;margin:0 0 6px}
.body{display:flex;gap:10px;align-items:flex-start}
.body img{width:360px;height:auto;flex:none}
.pairs{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
.pairs img{width:380px;height:auto}
table{border-collapse:collapse;font-size:12.5px}
td,th{padding:1px 6px;white-space:nowrap}
td.k{color:#57606a}
td.v,td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
table.cat{margin-top:2px}
table.cat th{border-bottom:1px solid #d0d7de;text-align:left}
table.cat tr:nth-child(even) td{background:#f6f8fa}
.scroll{overflow-x:auto}
.note{color:#57606a;font-size:12px}
footer{color:#57606a;font-size:12px;padding:0 24px 24px}
"""


def render_html(profile: dict) -> str:
    """The page of a profile (:func:`datagen.report.profile.build_profile`)."""
    with _DRAWING:
        return _page(profile)


def _page(profile: dict) -> str:
    s = profile["summary"]
    esc = html.escape
    tiles = [(f"{s['rows']:,}", "rows"), (f"{s['columns']:,}", "columns"), (f"{s['files']:,}", "files"),
             (_size(s["bytes"]), "read"), (s["format"].upper(), "format")]
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Profile of {esc(profile['dataset'])}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{esc(profile['dataset'])}</h1>",
        f'<p class="sub">{esc(s["input"])} &middot; types: {esc(s["schema"])} &middot; profiled {esc(s["profiled_at"])}'
        "</p>",
        '<div class="tiles">' + "".join(f"<div class=\"tile\"><b>{esc(v)}</b><span>{esc(k)}</span></div>"
                                        for v, k in tiles) + "</div></header><main>",
        "<h2>Columns</h2>", '<div class="grid">',
    ]
    for col in profile["columns"]:
        parts.append(_column_card(col))
    parts.append("</div>")
    parts.extend(_category_section(profile))
    approx = profile["approximations"]
    parts.append("</main><footer>" + "<br>".join(f"<b>{esc(k)}</b>: {esc(v)}" for k, v in approx.items())
                 + "</footer></body></html>")
    return "\n".join(parts) + "\n"


def _column_card(col: dict) -> str:
    esc = html.escape
    png = _column_plot(col)
    rows = "".join(f'<tr><td class="k">{esc(k)}</td><td class="v">{esc(v)}</td></tr>' for k, v in _numbers(col))
    desc = f'<p class="desc">{esc(col["description"])}</p>' if col.get("description") else ""
    return (f'<section class="card"><h3>{esc(col["name"])}<span class="badge">{esc(col["type"])}</span></h3>{desc}'
            f'<div class="body"><img data-column="{esc(col["name"])}" alt="{esc(col["name"])}" '
            f'src="data:image/png;base64,{png}"><table>{rows}</table></div></section>')


def _numbers(col: dict) -> list[tuple[str, str]]:
    count, nulls = col["count"], col["nulls"]
    total = count + nulls
    out = [("values", f"{count:,}"), ("nulls", f"{nulls:,}" + (f" ({100 * nulls / total:.1f}%)" if nulls else ""))]
    if col["distinct"] is not None:
        out.append(("distinct", f"{col['distinct']:,}"))
    elif col.get("approx_distinct") is not None:
        out.append(("distinct", f"≈ {col['approx_distinct']:,}"))
    kind = col["kind"]
    if kind in ORDERED_KINDS and col.get("min") is not None:
        show = col.get("display")
        q = (show or {}).get("quantiles") or col.get("quantiles", {})

        def fmt(key, value):
            return show[key] if show else _num(value)

        out.append(("min", fmt("min", col["min"])))
        for p, label in (("1", "p1"), ("5", "p5"), ("25", "p25"), ("50", "median"), ("75", "p75"), ("95", "p95"),
                         ("99", "p99")):
            if p in q:
                out.append((label, q[p] if show else _num(q[p])))
        out.append(("max", fmt("max", col["max"])))
        out.append(("mean", fmt("mean", col["mean"])))
        std = col["std"]
        if kind == "date":
            out.append(("std", f"{std:,.1f} days"))
        elif kind == "timestamp":
            out.append(("std", f"{std / 86_400e6:,.2f} days"))
        else:
            out.append(("std", _num(std)))
        if col.get("nan"):
            out.append(("NaN", f"{col['nan']:,}"))
        if col.get("infinite"):
            out.append(("infinite", f"{col['infinite']:,}"))
    elif kind == "string":
        if col["empty"]:
            out.append(("empty", f"{col['empty']:,}"))
        ln = col["length"]
        if ln["min"] is not None:
            out.append(("length", f"{ln['min']:,} / {ln['mean']:.1f} / {ln['max']:,}"))
        if "items" in col:
            items = col["items"]
            out.append(("items/row", f"{items['per_row']:.2f}"))
            out.append(("distinct items", f"{items['distinct']:,}"))
        top = col.get("top_values") or []
        if top and "items" not in col:
            shown = top[:CHART_BARS]
            out.append((f"top {len(shown)} cover", f"{100 * sum(t['count'] for t in shown) / max(count, 1):.1f}%"))
    elif kind == "bool":
        for t in col.get("top_values", []):
            out.append((str(t["value"]).lower(), f"{t['count']:,} ({100 * t['count'] / max(count, 1):.1f}%)"))
    return out


def _num(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    a = abs(v)
    if a == 0:
        return "0"
    if 1e4 <= a < 1e15:
        return f"{v:,.0f}"
    return f"{v:.4g}"  # four significant digits


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return str(n)


def _category_section(profile: dict) -> list[str]:
    esc = html.escape
    pairs = profile["by_category"]
    if not pairs:
        return []
    limit = profile["settings"]["max_categories"]
    out = ["<h2>By category</h2>",
           f'<p class="note">Rows, and the mean of each numeric column, for every value of the columns with at most '
           f"{limit} distinct values (exact). Numeric columns whose values are nearly all distinct (keys) get no "
           "chart.</p>", '<div class="grid">']
    for category in profile["category_columns"]:
        mine = [p for p in pairs if p["category"] == category]
        if not mine:
            continue
        charted = [p for p in mine if not p["measure_looks_like_key"]][:PAIR_CHARTS]
        charts = "".join(f'<img data-pair="{esc(category)}:{esc(p["measure"])}" alt="mean {esc(p["measure"])} by '
                         f'{esc(category)}" src="data:image/png;base64,{_pair_plot(p)}">' for p in charted)
        mine = [p for p in mine if not p["measure_looks_like_key"]] or mine
        head = "".join(f'<th class="n">mean {esc(p["measure"])}</th>' for p in mine)
        body = []
        for i, g in enumerate(mine[0]["groups"]):
            means = "".join(f'<td class="n">{_num(p["groups"][i]["mean"])}</td>' for p in mine)
            value = "NULL" if g["value"] is None else str(g["value"])
            body.append(f'<tr><td>{esc(value)}</td><td class="n">{g["rows"]:,}</td>{means}</tr>')
        out.append(f'<section class="card wide"><h3>by {esc(category)}</h3><div class="pairs">{charts}'
                   f'<div class="scroll"><table class="cat"><tr><th>{esc(category)}</th><th class="n">rows</th>{head}'
                   f'</tr>{"".join(body)}</table></div></div></section>')
    out.append("</div>")
    return out


# --- plots --------------------------------------------------------------------------------------------------

_BLUE = "#4c78a8"


def _figure(height: float = 2.5, width: float = 3.6):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=7.5)
    return fig, ax


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", pad_inches=0.06)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _count_formatter():
    from matplotlib.ticker import FuncFormatter

    def fmt(x, _):
        a = abs(x)
        return f"{x / 1e6:g}M" if a >= 1e6 else f"{x / 1e3:g}k" if a >= 1e3 else f"{x:g}"
    return FuncFormatter(fmt)


def _column_plot(col: dict) -> str:
    kind = col["kind"]
    if kind in ORDERED_KINDS and col.get("histogram"):
        return _histogram_plot(col)
    if kind == "string" and col.get("items", {}).get("top_values"):
        return _bars_plot(col["items"]["top_values"], f"top items of {col['items']['distinct']:,}", col["count"])
    if col.get("top_values"):
        n = col["distinct"] if col["distinct"] is not None else col.get("approx_distinct") or 0
        return _bars_plot(col["top_values"], f"top values of {n:,}", col["count"])
    return _nulls_plot(col)


def _histogram_plot(col: dict) -> str:
    import matplotlib.dates as mdates

    h = col["histogram"]
    edges, counts = list(h["edges"]), h["counts"]
    scale = {"date": 1.0, "timestamp": 1.0 / 86_400e6}.get(col["kind"])
    fig, ax = _figure()
    if scale is not None:
        edges = [e * scale for e in edges]
    ax.stairs(counts, edges, fill=True, color=_BLUE, alpha=0.85)
    median = col.get("quantiles", {}).get("50")
    title = f"{len(counts)} bins"
    if median is not None:
        x = median * scale if scale is not None else median
        ax.axvline(x, color="#e45756", lw=1.2, ls="--")
        title += "; dashed: the median"
    if scale is None and max(abs(edges[0]), abs(edges[-1])) >= 1e4:
        ax.xaxis.set_major_formatter(_count_formatter())
    if scale is not None:
        locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.yaxis.set_major_formatter(_count_formatter())
    ax.set_ylabel("rows", fontsize=8)
    ax.set_title(title, fontsize=8, loc="left", color="#57606a")
    return _png(fig)


def _bars_plot(top: list[dict], title: str, total: int) -> str:
    top = top[:CHART_BARS]
    labels = [_label(t["value"]) for t in top]
    counts = [t["count"] for t in top]
    fig, ax = _figure(max(1.6, 0.19 * len(top) + 0.75))
    y = list(range(len(top)))
    ax.barh(y, counts, color=_BLUE, height=0.7)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(_count_formatter())
    ax.set_xlabel("rows", fontsize=8)
    peak = max(counts) if counts else 1
    for yi, c in zip(y, counts):
        ax.text(c + peak * 0.01, yi, f"{c:,}", va="center", fontsize=6.5, color="#57606a")
    ax.set_xlim(0, peak * 1.18)
    ax.set_title(title, fontsize=8, loc="left", color="#57606a")
    return _png(fig)


def _label(value, width: int = 26) -> str:
    text = "NULL" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    text = text if text != "" else "(empty)"
    return text if len(text) <= width else text[:width - 1] + "…"


def _nulls_plot(col: dict) -> str:
    fig, ax = _figure(1.4)
    ax.barh([0, 1], [col["count"], col["nulls"]], color=[_BLUE, "#bab0ac"], height=0.6)
    ax.set_yticks([0, 1], ["values", "nulls"])
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(_count_formatter())
    return _png(fig)


def _pair_plot(pair: dict) -> str:
    groups = [g for g in pair["groups"] if g["mean"] is not None]
    fig, ax = _figure(max(1.5, 0.2 * len(groups) + 0.8), width=4.0)
    y = list(range(len(groups)))
    means = [g["mean"] for g in groups]
    ax.hlines(y, min(means) if means else 0, means, color="#d0d7de", lw=1)
    ax.plot(means, y, "o", color=_BLUE, ms=4.5)
    ax.set_yticks(y, [f"{_label(g['value'], 18)} ({g['count']:,})" for g in groups])
    ax.invert_yaxis()
    total = sum(g["count"] for g in groups)
    overall = ""
    if total:
        mean = sum(g["mean"] * g["count"] for g in groups) / total
        ax.axvline(mean, color="#e45756", lw=1, ls="--")
        overall = f"; all rows {_num(mean)} (dashed)"
    for yi, m in zip(y, means):
        ax.annotate(_num(m), (m, yi), xytext=(4, 0), textcoords="offset points", va="center", fontsize=6.5,
                    color="#57606a")
    if means:
        lo, hi = min(means), max(means)
        pad = (hi - lo) * 0.25 or abs(hi) * 0.05 or 1.0
        ax.set_xlim(lo - pad * 0.3, hi + pad)
    ax.set_title(f"mean {pair['measure']} by {pair['category']} (rows){overall}", fontsize=8, loc="left",
                 color="#57606a")
    return _png(fig)
