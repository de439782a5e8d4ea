"""The report's plotly figures. Each returns a :class:`plotly.graph_objects.Figure`; the writer
embeds them without plotly.js (the page carries it once)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from graphkit.registry import ACCOUNT_COLOUR, ACCOUNT_LABEL, KINDS, kind_of_label
from graphkit.report.cluster import Subgraph

# Node colours and legend names come from the registry (colours: the Neo4j Browser style's
# palette, cypher/graphkit.grass). A value reached through another entity says so.
COLOURS = {ACCOUNT_LABEL: ACCOUNT_COLOUR, **{k.label: k.colour for k in KINDS}}
NAMES = {ACCOUNT_LABEL: "account",
         **{k.label: k.title if k.source == ACCOUNT_LABEL
            else f"{k.title} (via {kind_of_label(k.source).noun})" for k in KINDS}}
MODEL_COLOURS = ["#4C8EDA", "#D9383A", "#8DCC93", "#F79767", "#8B5CF6", "#57C7E3", "#D7A013",
                 "#C990C0"]
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12}


def _layout(fig: go.Figure, height: int, **kw) -> go.Figure:
    kw.setdefault("margin", {"l": 60, "r": 20, "t": 40, "b": 40})
    fig.update_layout(template="plotly_white", height=height, font=FONT, **kw)
    return fig


def suspicion_histogram(communities: pd.DataFrame, threshold: float | None) -> go.Figure:
    c = communities[communities["size"] >= 2] if "size" in communities else communities
    fig = go.Figure()
    for flagged, colour, name in ((False, "#A5ABB6", "not flagged"), (True, "#D9383A", "flagged")):
        part = c[c["flagged"] == flagged]
        fig.add_trace(go.Histogram(x=part["suspicion"].to_numpy(dtype=float), name=name,
                                   marker_color=colour, xbins={"start": 0, "end": 1.0001, "size": 0.025},
                                   hovertemplate="suspicion %{x}<br>%{y} communities"
                                                 "<extra></extra>"))
    if threshold is not None:
        fig.add_vline(x=threshold, line={"color": "#D9383A", "dash": "dash", "width": 2},
                      annotation_text=f"flag cut {threshold:g}", annotation_position="top left")
    fig.update_xaxes(title="community suspicion", range=[0, 1.02])
    fig.update_yaxes(title="communities (log scale)", type="log")
    return _layout(fig, 300, barmode="stack", bargap=0.05,
                   legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"})


def cluster_graph(sub: Subgraph) -> go.Figure:
    nodes = sub.nodes
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=sub.edge_x, y=sub.edge_y, mode="lines", hoverinfo="skip",
                               line={"color": "rgba(120,120,130,0.25)", "width": 0.8},
                               showlegend=False))
    acc = nodes[nodes["label"] == "Account"]
    for core, name, symbol in ((True, "account (core: flagged)", "circle"),
                               (False, "account (periphery)", "circle-open")):
        part = acc[acc["core"] == core]
        if part.empty:
            continue
        susp = part["suspicion"].fillna(0).to_numpy()
        text = ("account " + part["key"] + "<br>suspicion " + part["suspicion"].round(3).astype(str)
                + "<br>membership " + part["membership"].round(3).astype(str))
        fig.add_trace(go.Scatter(
            x=part["x"], y=part["y"], mode="markers", name=name, text=text,
            hovertemplate="%{text}<extra></extra>",
            marker={"size": 7 + 13 * susp, "color": COLOURS["Account"], "symbol": symbol,
                        "opacity": 1.0 if core else 0.75,
                        "line": {"width": 1.5 if not core else 0.5,
                                  "color": COLOURS["Account"] if not core else "white"}}))
    ent = nodes[nodes["label"] != "Account"]
    for label, part in ent.groupby("label", sort=False):
        text = (NAMES.get(label, label) + " " + part["key"].astype(str) + "<br>"
                + part["n_members"].astype(int).astype(str) + " of the shown accounts; "
                + part["n_total"].astype(int).astype(str) + " accounts in all")
        fig.add_trace(go.Scatter(
            x=part["x"], y=part["y"], mode="markers", name=NAMES.get(label, label), text=text,
            hovertemplate="%{text}<extra></extra>",
            marker={"size": 8 + 3 * np.sqrt(part["n_members"].to_numpy(dtype=float)),
                        "color": COLOURS.get(label, "#A5ABB6"), "symbol": "diamond",
                        "line": {"width": 0.5, "color": "white"}}))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x", scaleratio=1)
    return _layout(fig, 520, legend={"orientation": "h", "y": -0.02, "x": 0.5, "xanchor": "center"},
                   margin={"l": 10, "r": 10, "t": 10, "b": 10}, hovermode="closest")


def timeline(activity: pd.DataFrame, order: list[str], releases: dict[str, str],
             max_buckets: int = 900) -> go.Figure:
    """Heatmap accounts x time bucket (colour saturates at the 99th percentile) over requests
    per model (stacked)."""
    act = activity
    if act.empty:
        return go.Figure()
    bucket = act["bucket"].astype("datetime64[us]")
    t0 = bucket.min()
    step = bucket.drop_duplicates().sort_values().diff().min()
    if pd.isna(step) or step <= pd.Timedelta(0):
        step = pd.Timedelta(hours=1)
    span = int((bucket.max() - t0) / step) + 1
    factor = max(1, math.ceil(span / max_buckets))
    step = step * factor
    idx = ((bucket - t0) // step).astype(np.int64).to_numpy()
    nb = int(idx.max()) + 1
    times = t0 + step * np.arange(nb)
    act = act.assign(i=idx)
    # Heatmap of the shown accounts.
    per = act[act["account_id"].isin(order)].groupby(["account_id", "i"])["n"].sum()
    rows = pd.Index(order)
    z = np.zeros((len(order), nb))
    if len(per):
        r = rows.get_indexer(per.index.get_level_values(0))
        z[r, per.index.get_level_values(1).to_numpy()] = per.to_numpy()
    first = np.where(z.any(axis=1), (z > 0).argmax(axis=1), nb)
    sort = np.argsort(first, kind="stable")
    z, labels = z[sort], np.asarray(order, dtype=object)[sort]
    models = act.groupby(["model", "i"])["n"].sum()
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32],
                        vertical_spacing=0.04)
    zmax = float(np.quantile(z[z > 0], 0.99)) if (z > 0).any() else 1.0
    zi = z.astype(np.uint16 if z.max() < 65535 else np.int32)
    fig.add_trace(go.Heatmap(
        z=zi, x=times, y=labels, colorscale="Viridis", zmin=0, zmax=max(zmax, 1.0),
        colorbar={"title": "requests", "len": 0.62, "y": 1, "yanchor": "top", "thickness": 12},
        hovertemplate="%{y}<br>%{x}<br>%{z} requests<extra></extra>"),
        row=1, col=1)
    for j, model in enumerate(sorted(models.index.get_level_values(0).unique())):
        s = models.loc[model]
        y = np.zeros(nb)
        y[s.index.to_numpy()] = s.to_numpy()
        fig.add_trace(go.Scatter(x=times, y=y, mode="lines", name=model, stackgroup="models",
                                 line={"width": 0.6, "color": MODEL_COLOURS[j % len(MODEL_COLOURS)]},
                                 hovertemplate=model + " %{y:.0f}<extra></extra>"), row=2, col=1)
    for model, when in (releases or {}).items():
        ts = pd.Timestamp(when)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        if times[0] <= ts <= times[-1] + step:
            for row in (1, 2):
                fig.add_vline(x=ts, line={"color": "#D9383A", "dash": "dot", "width": 1.5},
                              row=row, col=1)
            fig.add_annotation(x=ts, y=1, yref="paper", text=f"{model} released",
                               showarrow=False, xanchor="left", yanchor="bottom",
                               font={"color": "#D9383A", "size": 11})
    fig.update_yaxes(showticklabels=len(order) <= 40, tickfont={"size": 8}, row=1, col=1,
                     title=f"{len(order)} accounts")
    fig.update_yaxes(title="requests / model", row=2, col=1)
    return _layout(fig, 560, legend={"orientation": "h", "y": -0.08, "x": 0.5, "xanchor": "center"},
                   hovermode="closest")


def concentration(shared: pd.DataFrame, n_members: int) -> go.Figure:
    df = shared.sort_values(["members"], ascending=True)
    fig = go.Figure()
    for label in pd.unique(df["label"]):
        part = df[df["label"] == label]
        k = part["key"].astype(str).str.slice(0, 22)
        y = NAMES.get(label, label) + ": " + k
        fig.add_trace(go.Bar(
            x=part["members"], y=y, orientation="h", name=NAMES.get(label, label),
            marker_color=COLOURS.get(label, "#A5ABB6"),
            customdata=np.column_stack([part["n_accounts"], part["requests"]]),
            hovertemplate="%{y}<br>%{x} members use it (%{customdata[0]} accounts in all)"
                          "<br>%{customdata[1]:,} requests by members<extra></extra>"))
    fig.update_xaxes(title=f"cluster members using it (of {n_members})")
    fig.update_yaxes(tickfont={"size": 10}, automargin=True, categoryorder="total ascending")
    return _layout(fig, max(260, 18 * len(df) + 80), showlegend=False, bargap=0.25,
                   margin={"l": 10, "r": 20, "t": 20, "b": 40})


def creation(members: pd.DataFrame) -> go.Figure:
    """Account creation (circles) and bans (crosses) against membership."""
    fig = go.Figure()
    status = members["status"].fillna("unknown").astype(str) if "status" in members else \
        pd.Series("unknown", index=members.index)
    for j, st in enumerate(sorted(status.unique())):
        part = members[status == st]
        fig.add_trace(go.Scatter(
            x=part["created_at"], y=part["membership"], mode="markers", name=f"created ({st})",
            text=part["account_id"], marker={"size": 7, "opacity": 0.8,
                                                 "color": ["#4C8EDA", "#D9383A", "#F79767",
                                                        "#8DCC93"][j % 4]},
            hovertemplate="%{text}<br>created %{x}<br>membership %{y:.2f}<extra></extra>"))
    if "banned_at" in members:
        b = members[members["banned_at"].notna()]
        if len(b):
            fig.add_trace(go.Scatter(
                x=b["banned_at"], y=b["membership"], mode="markers", name="banned",
                text=b["account_id"], marker={"symbol": "x", "size": 7, "color": "#333"},
                hovertemplate="%{text}<br>banned %{x}<extra></extra>"))
    fig.update_xaxes(title="date")
    fig.update_yaxes(title="membership", range=[-0.03, 1.05])
    return _layout(fig, 300, legend={"orientation": "h", "y": 1.15, "x": 1, "xanchor": "right"})


def waterfalls(contribs: pd.DataFrame, titles: list[str], row_label: str) -> go.Figure:
    """One plotly Waterfall per row of ``contribs`` (columns = signals), side by side."""
    n = len(contribs)
    fig = make_subplots(rows=1, cols=max(n, 1), subplot_titles=titles, horizontal_spacing=0.06)
    cols = list(contribs.columns)
    for j, (_, row) in enumerate(contribs.iterrows()):  # at most a handful of panels
        vals = row.to_numpy(dtype=float)
        total = float(vals.sum())
        fig.add_trace(go.Waterfall(
            x=cols + ["sum"], y=list(vals) + [total], measure=["relative"] * len(cols) + ["total"],
            showlegend=False, connector={"line": {"color": "#bbb", "width": 1}},
            increasing={"marker": {"color": "#4C8EDA"}},
            decreasing={"marker": {"color": "#D9383A"}},
            totals={"marker": {"color": "#8B5CF6"}},
            hovertemplate="%{x}: %{y:.3f}<extra></extra>"), row=1, col=j + 1)
    fig.update_annotations(font={"size": 11})
    fig.update_yaxes(title_text=row_label, row=1, col=1)
    return _layout(fig, 300, margin={"l": 60, "r": 20, "t": 60, "b": 40})
