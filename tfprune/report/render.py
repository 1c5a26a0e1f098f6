"""Console rendering of reports: aligned columns, totals and the unit."""
from __future__ import annotations

import math

import pandas as pd

from .._keras import check_model
from .measure import measured_summary
from .tables import COLUMNS, UNIT, human, layer_table, total_sparsity

__all__ = ["render"]


def _fmt_int(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{int(v):,}"


def _fmt_pct(v, digits=1):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{100 * v:.{digits}f}%"


def _fmt_red(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.1f}%"


def _fmt_shape(s):
    if s is None:
        return "-"
    if isinstance(s, list):
        return ", ".join(_fmt_shape(x) for x in s)
    return "(" + ", ".join("?" if d is None else str(d) for d in s) + ")"


def _grid(headers, rows, right):
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.rjust(w) if right[i] else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    sep = "  ".join("-" * w for w in widths)
    return [line(headers), sep] + [line(r) for r in rows[:-1]] + (
        [sep, line(rows[-1])] if rows else [])


def render(table_or_model, batch_size=1, title=None) -> str:
    """A console rendering of a report: aligned columns, thousands separators,
    totals and the unit ("FLOPs (2 per MAC + bias adds)").

    Args:
        table_or_model: a ``tp.keras`` model, a :func:`layer_table` frame or a
            :func:`compare` frame.
        batch_size: used only when a model is given.
        title: first line (default: the model name).

    Returns:
        str (no trailing newline).

    Raises:
        TypeError: for anything else.
    """
    obj = table_or_model
    if not isinstance(obj, pd.DataFrame):
        check_model(obj, "table_or_model", "render")
        obj = layer_table(obj, batch_size)
    if "params_before" in obj.columns:
        return _render_compare(obj, title)
    if not set(COLUMNS) <= set(obj.columns):
        raise TypeError("render(): 'table_or_model' must be a model, a "
                        "layer_table() or a compare() DataFrame; got a frame "
                        f"with columns {list(obj.columns)}.")
    return _render_table(obj, title)


def _render_table(t, title):
    batch = t.attrs.get("batch_size", 1)
    rows = []
    for r in t.itertuples(index=False):
        flops = _fmt_int(r.flops) + ("" if getattr(r, "counted", True)
                                     else " *")
        rows.append([r.layer, r.type, _fmt_shape(r.output_shape),
                     _fmt_int(r.params), _fmt_int(r.macs), flops,
                     _fmt_pct(r.sparsity)])
    params = t.attrs.get("params", int(t["params"].sum()))
    macs = int(t["macs"].sum())
    flops = int(t["flops"].sum())
    zero = total_sparsity(t) if len(t) else float("nan")
    rows.append(["TOTAL", "", "", _fmt_int(params), _fmt_int(macs),
                 _fmt_int(flops), _fmt_pct(zero)])
    headers = ["layer", "type", "output shape", "params", "MACs", UNIT,
               "zeros"]
    right = [False, False, False, True, True, True, True]
    name = title or f"Model: {t.attrs.get('model', '')}".rstrip(": ")
    lines = [name] + _grid(headers, rows, right)
    lines.append(f"Totals: {params:,} params, {macs:,} MACs, {flops:,} "
                 f"FLOPs ({human(flops)}; 2 per MAC + bias adds; "
                 f"batch {batch}).")
    if "counted" in t.columns:
        missing = list(t.loc[~t["counted"].astype(bool), "layer"])
        if missing:
            lines.append("* not counted (0 FLOPs): " + _names(missing))
    if "note" in t.columns:
        by_note: dict[str, list] = {}
        for name, note in zip(t["layer"], t["note"]):
            for part in filter(None, str(note or "").split("; ")):
                by_note.setdefault(part, []).append(name)
        for note, names in by_note.items():
            lines.append(f"Note: {_names(names)}: {note}.")
    return "\n".join(lines)


def _names(names, limit=4):
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit - 1])}, ... ({len(names)} layers)"


def _render_compare(t, title):
    rows = []
    for r in t.itertuples(index=False):
        rows.append([r.layer, str(r.type or ""), _fmt_int(r.params_before),
                     _fmt_int(r.params_after),
                     _fmt_red(r.params_reduction_pct),
                     _fmt_int(r.flops_before), _fmt_int(r.flops_after),
                     _fmt_red(r.flops_reduction_pct)])
    headers = ["layer", "type", "params before", "params after",
               "params -%", "FLOPs before", "FLOPs after", "FLOPs -%"]
    right = [False, False] + [True] * 6
    lines = [title or "Before / after"] + _grid(headers, rows, right)
    comp, speed = t.attrs.get("compression"), t.attrs.get("speedup")
    if comp is not None:
        lines.append(f"Compression {comp:.2f}x (params), theoretical speed-up"
                     f" {speed:.2f}x; {UNIT}, batch "
                     f"{t.attrs.get('batch_size', 1)}.")
    if measured_summary(t):
        lines.append(measured_summary(t))
    return "\n".join(lines)
