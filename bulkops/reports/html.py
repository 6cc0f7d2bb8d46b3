"""report.html: one self-contained page answering what changed, what failed and why.

No network fetch of any kind: the style, the charts (inline SVG drawn here) and the small filter
script are all in the page. Every value that came from a job file or from Zoom goes through
``html.escape``. ``window.onerror`` marks the ``<html>`` element with ``data-js-error`` and the
page's own script marks it ``data-report-ready="1"`` once it has run, so a headless browser test
can tell a working page from a broken one.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..state.reader import StateReader
from .collected import Collected
from .summary import Latency

MAX_BARS = 300
MAX_GROUPS = 50
TABLE_LIMIT = 5_000
W, H, PAD = 900, 220, 40
_COLORS = {
    "succeeded": "#2e7d32",
    "already_present": "#558b2f",
    "already_absent": "#558b2f",
    "failed": "#c62828",
    "skipped": "#ef6c00",
    "not_run": "#616161",
    "would_change": "#1565c0",
}


def e(value: Any) -> str:
    """Escape anything for HTML text and attribute values."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def escaped_column(frame: pd.DataFrame, name: str, before: str = "", after: str = "") -> list[str]:
    """``before + e(cell) + after`` for each cell of column ``name`` (None where the frame has no
    such column), escaped once per distinct value: a table's columns repeat most of theirs."""
    if name not in frame:
        return [before + after] * len(frame)
    done: dict[tuple[type, Any], str] = {}  # keyed by type too: 1, 1.0 and True are one key
    out = []
    for value in frame[name].tolist():
        key = (type(value), value)
        try:
            text = done.get(key)
        except TypeError:  # unhashable (a list in an object column): escaped where it stands
            text = before + e(value) + after
        if text is None:
            text = done[key] = before + e(value) + after
        out.append(text)
    return out


# --- data ----------------------------------------------------------------------------------


def timeline(reader: StateReader) -> dict[str, Any]:
    """Requests per second over time, with 429s, retries and errors, in at most MAX_BARS bars.

    SQLite groups the attempts into the bars, so this reads at most MAX_BARS × kinds rows.
    """
    seconds = reader.attempt_seconds()
    if seconds is None:
        return {"width": 1, "start": None, "bars": []}
    start, last = seconds
    span = last - start + 1
    width = max(1, math.ceil(span / MAX_BARS))
    n = math.ceil(span / width)
    bars = [{"all": 0, "rate_limited": 0, "retry": 0, "error": 0} for _ in range(n)]
    for counted in reader.attempt_bars(start, width):
        bar = bars[counted.bar]
        bar["all"] += counted.count
        if counted.kind in ("rate_limited", "retry", "error"):
            bar[counted.kind] += counted.count
    return {"width": width, "start": start, "bars": bars}


# --- SVG helpers -----------------------------------------------------------------------------


def _svg(body: str, title: str, label: str) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{e(label)}" viewBox="0 0 {W} {H}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg"><title>{e(title)}</title>{body}</svg>'
    )


def _axes(y_max: float, y_label: str, x_labels: Sequence[tuple[float, str]]) -> str:
    parts = [
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#999"/>',
        f'<line x1="{PAD}" y1="10" x2="{PAD}" y2="{H - PAD}" stroke="#999"/>',
        f'<text x="{PAD - 4}" y="16" text-anchor="end" font-size="11">{e(_num(y_max))}</text>',
        f'<text x="{PAD - 4}" y="{H - PAD}" text-anchor="end" font-size="11">0</text>',
        f'<text x="{PAD + 4}" y="22" font-size="11" fill="#555">{e(y_label)}</text>',
    ]
    for x, text in x_labels:
        parts.append(
            f'<text x="{x:.1f}" y="{H - PAD + 14}" text-anchor="middle" font-size="11">'
            f"{e(text)}</text>"
        )
    return "".join(parts)


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def throughput_svg(tl: dict[str, Any]) -> str:
    bars: list[dict[str, int]] = tl["bars"]
    if not bars:
        return '<p class="empty">No requests recorded yet.</p>'
    width = tl["width"]
    rates = [b["all"] / width for b in bars]
    top = max(rates) or 1.0
    step = (W - PAD - 10) / len(bars)
    y0 = H - PAD
    scale = (y0 - 20) / top
    parts = []
    for i, (bar, rate) in enumerate(zip(bars, rates, strict=True)):
        x = PAD + i * step
        h = rate * scale
        tip = (
            f"t+{i * width}s: {rate:.1f} req/s, {bar['rate_limited']} × 429, "
            f"{bar['retry']} retries, {bar['error']} errors"
        )
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y0 - h:.1f}" width="{max(step - 0.5, 0.5):.1f}" '
            f'height="{h:.1f}" fill="#1565c0"><title>{e(tip)}</title></rect>'
        )
        if bar["rate_limited"]:
            parts.append(
                f'<circle class="mark-429" cx="{x + step / 2:.1f}" cy="{y0 - h - 6:.1f}" r="3" '
                f'fill="#c62828"><title>{bar["rate_limited"]} × 429</title></circle>'
            )
        if bar["retry"] or bar["error"]:
            parts.append(
                f'<rect class="mark-retry" x="{x:.1f}" y="{y0 + 2:.1f}" '
                f'width="{max(step - 0.5, 0.5):.1f}" height="4" fill="#ef6c00"/>'
            )
    total = len(bars) * width
    labels = [(PAD + k * (W - PAD - 10) / 4, f"{round(total * k / 4)}s") for k in range(5)]
    body = _axes(top, "requests/s", labels) + "".join(parts)
    return _svg(body, "Throughput", "requests per second over time; red dots mark 429s")


def latency_svg(lat: Latency) -> str:
    if not lat.counts:
        return '<p class="empty">No latencies recorded yet.</p>'
    edges = np.asarray(lat.edges, dtype=np.float64)
    counts = np.asarray(lat.counts, dtype=np.int64)
    top = int(counts.max()) or 1
    step = (W - PAD - 10) / len(counts)
    y0 = H - PAD
    parts = []
    for i, count in enumerate(counts.tolist()):
        h = count / top * (y0 - 20)
        tip = f"{edges[i]:.0f}–{edges[i + 1]:.0f} ms: {count}"
        parts.append(
            f'<rect class="bar" x="{PAD + i * step:.1f}" y="{y0 - h:.1f}" '
            f'width="{step - 1:.1f}" height="{h:.1f}" fill="#6a1b9a"><title>{e(tip)}</title></rect>'
        )
    for q, color in ((50, "#2e7d32"), (90, "#ef6c00"), (99, "#c62828")):
        v = lat.marks[q]
        pos = int(np.searchsorted(edges, v, side="right")) - 1
        x = PAD + min(max(pos, 0), len(counts) - 1) * step + step / 2
        parts.append(
            f'<line x1="{x:.1f}" y1="14" x2="{x:.1f}" y2="{y0}" stroke="{color}" '
            f'stroke-dasharray="3,2"/><text x="{x + 3:.1f}" y="{24 + q / 10:.0f}" '
            f'font-size="11" fill="{color}">p{q} {v:.0f} ms</text>'
        )
    labels = [
        (PAD + k * (W - PAD - 10) / 4, f"{edges[min(k * len(counts) // 4, len(edges) - 1)]:.0f}ms")
        for k in range(5)
    ]
    body = _axes(top, "requests", labels) + "".join(parts)
    return _svg(body, "Latency distribution", "histogram of request latency, log scale")


# --- sections ------------------------------------------------------------------------------


def _summary_html(s: dict[str, Any]) -> str:
    cards = "".join(
        f'<div class="card" style="border-color:{_COLORS[k]}"><div class="n" id="count-{k}">'
        f'{v:,}</div><div class="k">{e(k)}</div></div>'
        for k, v in s["counts"].items()
    )
    facts = [
        ("job", s.get("job")),
        ("operations", f"{s['operations']:,}"),
        ("complete", "yes" if s["complete"] else "no: run the job again to continue"),
        ("duration", f"{s['duration_s']:,.1f} s"),
        ("requests", f"{s['requests']:,}"),
        ("achieved rate", f"{s['achieved_rate']} req/s" if s["achieved_rate"] else "n/a"),
        ("429s", s["rate_limited"]),
        ("retries", s["retries"]),
        ("reconciliations", s["reconciliations"]),
        ("lookups", s["lookups"]),
        ("exit code", "n/a (no run finished yet)" if s["exit_code"] is None else s["exit_code"]),
        ("stopped", _stopped(s.get("stop"))),
        ("runs", len(s["runs"])),
        ("generation", s.get("generation", 1)),
    ]
    lat = s.get("latency_ms") or {}
    if lat:
        facts.append(
            ("latency", f"p50 {lat['p50']} ms · p90 {lat['p90']} ms · p99 {lat['p99']} ms")
        )
    rows = "".join(
        f'<tr><th>{e(k)}</th><td id="fact-{e(k).replace(" ", "-")}">{e(v)}</td></tr>'
        for k, v in facts
    )
    statuses = list(s["counts"])
    head = "".join(f"<th>{e(x)}</th>" for x in ["operation", "total", *statuses])
    ops = "".join(
        "<tr><td>" + e(k) + f"</td><td>{c['total']:,}</td>"
        + "".join(f"<td>{c.get(st, 0):,}</td>" for st in statuses)
        + "</tr>"
        for k, c in s["by_operation"].items()
    )  # fmt: skip
    stop = s.get("stop")
    banner = "" if not stop else f'<p class="stopped" id="stopped">{e(_stopped(stop))}</p>'
    return (
        f'<section id="summary"><h2>Summary</h2>{banner}<div class="cards">{cards}</div>'
        f'<table class="facts">{rows}</table>'
        f'<table class="kinds"><thead><tr>{head}</tr></thead><tbody>{ops}</tbody></table></section>'
    )


def _stopped(stop: dict[str, Any] | None) -> str:
    """Why the last run stopped and how to go on; "no" when it ran to its end."""
    if not stop:
        return "no"
    detail = f": {stop['detail']}" if stop.get("detail") else ""
    when = f" after {stop['resume_at']}" if stop.get("resume_at") else ""
    return f"{stop['reason']}{detail}. Run the same command again{when} to resume"


def _groups_html(acc: Collected) -> str:
    groups = sorted(acc.groups.values(), key=lambda g: (-g.count, g.message))
    if not groups:
        return '<section id="failures"><h2>Failures</h2><p class="empty">No failures.</p></section>'
    out = []
    for i, g in enumerate(groups[:MAX_GROUPS]):
        cols = (
            "seq",
            "source_row",
            "extension_id",
            "extension_number",
            "extension_name",
            "action",
            "setting_type",
            "message",
        )
        ex = "".join(
            "<tr>" + "".join(f"<td>{e(x.get(c))}</td>" for c in cols) + "</tr>" for x in g.examples
        )
        head = "".join(f"<th>{e(c)}</th>" for c in cols)
        out.append(
            f'<details class="group" id="group-{i}"><summary><span class="count">{g.count:,}'
            f"</span> × <b>{e(g.status)}</b> HTTP {e(g.http_status) or '–'} · code "
            f'{e(g.zoom_code) or "–"} · <span class="msg">{e(g.message)}</span></summary>'
            f"<table><thead><tr>{head}</tr></thead><tbody>{ex}</tbody></table></details>"
        )
    more = ""
    if len(groups) > MAX_GROUPS:
        more = f"<p>… and {len(groups) - MAX_GROUPS:,} smaller groups: see failures.csv.</p>"
    return (
        '<section id="failures"><h2>Failures by error</h2><p>Fix the cause, then '
        "<code>bulkops run failures.csv</code> reruns exactly these.</p>"
        + "".join(out)
        + more
        + "</section>"
    )


_TABLE_COLUMNS = (
    ("seq", "#"),
    ("source_row", "row"),
    ("extension_id", "extension"),
    ("extension_number", "ext"),
    ("extension_name", "name"),
    ("action", "action"),
    ("setting_type", "setting"),
    ("sub_setting_type", "sub"),
    ("holiday_name", "holiday"),
    ("phone_number", "number"),
    ("status", "status"),
    ("http_status", "HTTP"),
    ("zoom_code", "code"),
    ("message", "message"),
    ("attempts", "tries"),
)


def _table_html(acc: Collected, frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{e(label)}</th>" for _, label in _TABLE_COLUMNS)
    # Column by column, each distinct value escaped once: a row at a time cost 0.1 s per
    # 5,000 rows, a third of writing the page.
    states = [e(str(s)) for s in frame["status"].tolist()] if len(frame) else []
    starts = [f'<tr class="st-{s}" data-status="{s}">' for s in states]
    cells = [escaped_column(frame, c, "<td>", "</td>") for c, _ in _TABLE_COLUMNS]
    body = ["".join(row) + "</tr>" for row in zip(starts, *cells, strict=True)]
    note = f"Showing {len(frame):,} of {acc.total:,} operations"
    if acc.total > len(frame):
        note += ", failures first; the full list is in results.csv (and results.parquet)"
    options = "".join(f'<option value="{e(s)}">{e(s)}</option>' for s in _COLORS)
    return (
        '<section id="operations"><h2>Operations</h2>'
        f'<p id="table-note">{e(note)}.</p>'
        '<p><input id="filter" type="search" placeholder="filter: extension, message, status…" '
        'size="40"> <select id="status-filter"><option value="">all statuses</option>'
        f'{options}</select> <span id="shown"></span></p>'
        f'<table id="ops"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        "</section>"
    )


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.cards{display:flex;gap:.6em;flex-wrap:wrap}.card{border-left:5px solid;padding:.3em .8em;
background:#f7f7f7}.card .n{font-size:1.5em;font-weight:600}.card .k{color:#555}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 6px;
text-align:left;vertical-align:top}th{background:#f0f0f0}.facts th{width:12em}
#ops td:nth-child(13){max-width:40em;overflow-wrap:anywhere}.st-failed td{background:#ffebee}
.st-skipped td{background:#fff3e0}.st-not_run td{background:#f5f5f5}.group{margin:.3em 0}
.group summary{cursor:pointer}.count{font-weight:700}.chart{max-width:900px;display:block}
.empty{color:#777}.stopped{border-left:5px solid #ef6c00;background:#fff3e0;padding:.4em .8em}
.extension{margin:.4em 0}.extension summary{cursor:pointer;font-weight:600}
.extension table{width:100%;table-layout:fixed}.extension th:nth-child(-n+2){width:4em}
.extension th:nth-child(n+3):nth-child(-n+5){width:8.5em}
.c-before{color:#6d4c41}.c-after{color:#1b5e20}.is-noop td{color:#777}
.noop{font-size:.85em;border:1px solid #999;border-radius:3px;padding:0 3px}
"""

_ONERROR = """
window.onerror=function(msg){document.documentElement.setAttribute('data-js-error',String(msg));
var p=document.getElementById('js-errors');if(p){p.textContent+=String(msg)+'\\n';}return false;};
"""

_SCRIPT = """
(function(){
  var input=document.getElementById('filter'),sel=document.getElementById('status-filter');
  var rows=Array.prototype.slice.call(document.querySelectorAll('#ops tbody tr'));
  var text=rows.map(function(r){return r.textContent.toLowerCase();});
  var shown=document.getElementById('shown');
  function apply(){
    var q=input.value.toLowerCase().trim(),st=sel.value,n=0;
    for(var i=0;i<rows.length;i++){
      var ok=(!q||text[i].indexOf(q)>=0)&&(!st||rows[i].getAttribute('data-status')===st);
      rows[i].style.display=ok?'':'none';if(ok){n++;}
    }
    shown.textContent=n+' row(s) shown';
  }
  input.addEventListener('input',apply);sel.addEventListener('change',apply);apply();
  document.documentElement.setAttribute('data-report-ready','1');
})();
"""


def render(
    summary: dict[str, Any],
    acc: Collected,
    tl: dict[str, Any],
    lat: Latency,
    table: pd.DataFrame,
    changes: str = "",
) -> str:
    """The page; ``table``: the operations to list (failures first, at most TABLE_LIMIT);
    ``changes``: the before → after section (``reports.beforeafter``), after the summary."""
    title = f"bulkops report: {summary.get('job') or 'job'}"
    beside = ", ".join(name for name in summary.get("files") or () if name != "report.html")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{e(title)}</title><style>{_STYLE}</style><script>{_ONERROR}</script></head>"
        f"<body><h1>{e(title)}</h1>"
        f"<p>Generated {e(summary.get('generated_at'))} from {e(summary.get('state_dir'))}. "
        f"Files beside this page: {e(beside)}."
        '</p><pre id="js-errors" hidden></pre>'
        + _summary_html(summary)
        + changes
        + '<section id="timeline"><h2>Throughput</h2><p>Requests per second'
        + (f" (bars of {tl['width']} s)" if tl["width"] > 1 else "")
        + "; red dots: 429 answers; orange ticks: retries and errors.</p>"
        + throughput_svg(tl)
        + '</section><section id="latency"><h2>Latency</h2>'
        + latency_svg(lat)
        + "</section>"
        + _groups_html(acc)
        + _table_html(acc, table)
        + f"<script>{_SCRIPT}</script></body></html>"
    )
