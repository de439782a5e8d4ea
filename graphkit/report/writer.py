"""Render a detection output directory as one self-contained HTML investigation report.

The page embeds plotly.js once, every figure as a plotly div (no plotly.js of its own), and a
little CSS; opening it fetches nothing. The file is written beside ``out`` and renamed into
place, so a reader never sees half a report.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.io as pio
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from graphkit import __version__
from graphkit.detection.activity import activity_table
from graphkit.errors import ConfigError
from graphkit.report import cluster as C
from graphkit.report import figures as F
from graphkit.report.data import DetectionOutput, read_output

PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
TOP_LINKS = 3
TOP_ACCOUNTS = 3
TIMELINE_ACCOUNTS = 60


@dataclass
class ReportResult:
    path: Path
    bytes: int
    seconds: float
    clusters: int


def _div(fig, div_id: str) -> Markup:  # type: ignore[no-untyped-def]
    return Markup(pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id,
                              config=PLOT_CONFIG, validate=False))


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if not np.isnan(v) else ""
    if isinstance(v, dict | list):
        return ", ".join(f"{k}={val}" for k, val in v.items()) if isinstance(v, dict) else \
            ", ".join(map(str, v))
    return "" if v is None else str(v)


def _table(df: pd.DataFrame, max_rows: int = 200) -> dict:
    df = df.head(max_rows)
    return {"columns": [str(c) for c in df.columns],
            "rows": [[_fmt(v) for v in row] for row in df.itertuples(index=False)]}


def _signals(out: DetectionOutput) -> list[dict]:
    weights = out.settings.get("signal_weights") or {}
    rows = []
    for col in out.signal_columns:
        values = out.links[col].fillna(0).to_numpy(dtype=float)
        nonzero = int((values > 0).sum())
        w = weights.get(col)
        rows.append({"signal": col, "weight": "" if w is None else f"{float(w):g}",
                     "links": f"{nonzero:,}",
                     "mean": f"{values[values > 0].mean():.3f}" if nonzero else "",
                     "used": bool(nonzero) and (w is None or float(w) > 0)})
    return rows


def _activity(out: DetectionOutput, events: Sequence[str] | None, ids: pd.Series,
              bin: str) -> tuple[pd.DataFrame | None, str]:
    if out.activity is not None:
        return out.activity, "activity.parquet in the output directory"
    if events:
        return activity_table(list(events), ids, bin=bin), \
            "computed from " + ", ".join(Path(e).name for e in events)
    return None, ""


def _cluster_context(out: DetectionOutput, row: pd.Series, activity: pd.DataFrame | None,
                     releases: dict) -> dict:
    cid = int(row["community_id"])
    members = out.members(cid)
    ctx: dict = {"id": cid, "size": int(row["size"]), "suspicion": float(row["suspicion"]),
                 "actor": row.get("actor") if isinstance(row.get("actor"), str) else None,
                 "evidence": [s for s in str(row.get("evidence") or "").split("; ") if s],
                 "cypher": row.get("cypher") if isinstance(row.get("cypher"), str) else None,
                 "n_members": len(members), "n_flagged": int(members["flagged"].sum())}
    if out.entity_edges is not None:
        sub = C.subgraph(out, members)
        ctx["graph"] = _div(F.cluster_graph(sub), f"cluster-graph-{cid}")
        ctx["graph_caption"] = sub.caption
        shared = C.shared_entities(out, members)
        if len(shared):
            ctx["concentration"] = _div(F.concentration(shared, len(members)),
                                        f"cluster-shared-{cid}")
    else:
        ctx["graph_caption"] = "The output directory has no graph/ (the subgraph needs it)."
    shown = members.head(TIMELINE_ACCOUNTS)["account_id"].astype(str).tolist()
    if activity is not None:
        act = activity[activity["account_id"].isin(members["account_id"].astype(str))]
        if len(act):
            ctx["timeline"] = _div(F.timeline(act, shown, releases), f"cluster-timeline-{cid}")
            ctx["timeline_caption"] = (
                f"Requests per account and hour for the {len(shown)} members with the highest "
                f"membership (rows ordered by first activity; colour saturates at the 99th percentile), and all "
                f"{len(members)} members' requests per model below.")
    if out.graph_accounts is not None:
        ga = out.graph_accounts.drop(columns=["account_id"], errors="ignore")
        info = members.merge(ga, left_on="account_id", right_on="key", how="left")
        if "created_at" in info and info["created_at"].notna().any():
            ctx["creation"] = _div(F.creation(info), f"cluster-creation-{cid}")
    links = C.cluster_links(out, members)
    weights = out.signal_weights
    if len(links) and any(w > 0 for w in weights.values()):
        top = links.head(TOP_LINKS)
        contrib = C.link_contributions(top, weights)
        cols = [c for c in weights if c in contrib.columns]
        titles = [f"{a[:8]}–{b[:8]}: score {s:.3f}<br>= 1 − exp(−{t:.2f})"
                  for a, b, s, t in zip(top["account_a"], top["account_b"], contrib["score"],
                                        contrib["total"], strict=True)]
        ctx["link_waterfall"] = _div(F.waterfalls(contrib[cols], titles, "weight × similarity"),
                                     f"cluster-links-{cid}")
        ctx["n_links"] = len(links)
    flagged = members[members["flagged"]].sort_values("suspicion", ascending=False)
    if len(flagged):
        top_acc = flagged.head(TOP_ACCOUNTS)
        # The accounts' links inside the cluster, capped: the strongest few hundred per account.
        ids = top_acc["account_id"].astype(str)
        own = links[links["account_a"].astype(str).isin(ids) | links["account_b"].astype(str)
                    .isin(ids)].head(3000)
        contrib, how = C.account_contributions(out, members, own, top_acc["account_id"])
        if len(contrib.columns) and np.abs(contrib.to_numpy()).sum() > 0:
            titles = [f"{a[:16]}<br>suspicion {s:.3f}" for a, s in
                      zip(top_acc["account_id"].astype(str), top_acc["suspicion"], strict=True)]
            label = "contribution" if how == "model" else "mean weight × similarity"
            ctx["account_waterfall"] = _div(F.waterfalls(contrib, titles, label),
                                            f"cluster-accounts-{cid}")
            ctx["account_waterfall_how"] = how
    if out.successions is not None:
        ids = set(members["account_id"].astype(str))
        s = out.successions
        mine = s[s["predecessor"].astype(str).isin(ids) | s["successor"].astype(str).isin(ids)]
        if "confidence" in mine:
            mine = mine.sort_values("confidence", ascending=False)
        ctx["successions"] = _table(mine, 50) if len(mine) else None
        ctx["n_successions"] = len(mine)
    return ctx


def render_report(out: DetectionOutput, *, events: Sequence[str] | None = None,
                  previous: bool = False, bin: str = "1h") -> str:
    comms = out.communities.sort_values("suspicion", ascending=False)
    flagged = comms[comms["flagged"]]
    ids = out.accounts.loc[out.accounts["community_id"].isin(flagged["community_id"]),
                           "account_id"].astype(str)
    if "attached_to" in out.accounts:
        extra = out.accounts.loc[out.accounts["attached_to"].isin(flagged["community_id"]),
                                 "account_id"].astype(str)
        ids = pd.concat([ids, extra]).drop_duplicates()
    activity, activity_source = _activity(out, events, ids, bin)
    releases = (out.manifest.get("outputs") or {}).get("model_releases") or {}
    overview_cols = [c for c in ("community_id", "size", "n_flagged_accounts", "suspicion",
                                 "actor", "actor_confidence", "n_events") if c in comms]
    ranked = flagged[overview_cols].copy()
    ranked["top evidence"] = flagged["evidence"].fillna("").str.split("; ").str[1:3] \
        .str.join("; ") if "evidence" in flagged else ""
    settings = out.settings
    ctx = {
        "version": __version__,
        "directory": out.directory.name,
        "run_id": out.manifest.get("run_id", ""),
        "created_at": out.manifest.get("created_at", ""),
        "n_accounts": len(out.accounts), "n_communities": len(comms),
        "n_flagged": len(flagged), "n_flagged_accounts": int(out.accounts["flagged"].sum()),
        "n_links": len(out.links),
        "threshold": out.flag_threshold,
        "ranked": _table(ranked),
        "histogram": _div(F.suspicion_histogram(comms, out.flag_threshold), "overview-histogram"),
        "signals": _signals(out),
        "signals_source": "manifest settings.signal_weights" if settings.get("signal_weights")
        else "links.csv columns with non-zero values",
        "settings": [(k, _fmt(v)) for k, v in settings.items()],
        "inputs": [(k, _fmt(v.get("path") if isinstance(v, dict) else
                           [i.get("path") for i in v] if isinstance(v, list) else v))
                   for k, v in (out.manifest.get("inputs") or {}).items()],
        "activity_source": activity_source,
        "changes": _table(out.changes) if previous and out.changes is not None else None,
        "clusters": [_cluster_context(out, row, activity, releases)
                     for _, row in flagged.iterrows()],  # one per flagged community
    }
    env = Environment(loader=PackageLoader("graphkit.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    from plotly.offline import get_plotlyjs

    ctx["plotlyjs"] = Markup(get_plotlyjs())
    return env.get_template("report.html.j2").render(**ctx)


def write_report(directory: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                 *, events: Sequence[str] | None = None, previous: bool = False,
                 bin: str = "1h") -> ReportResult:
    """Write the HTML report of ``directory`` to ``out`` (default ``directory/report.html``)."""
    start = time.perf_counter()
    data = read_output(directory)
    target = Path(out) if out is not None else Path(directory) / "report.html"
    if target.is_dir():
        raise ConfigError(f"--out {target} is a directory; give a file name", file=str(target))
    if not target.parent.exists():
        raise ConfigError(f"the directory of --out does not exist: {target.parent}",
                          file=str(target))
    html = render_report(data, events=events, previous=previous, bin=bin)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(html)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    n = int(data.communities["flagged"].sum())
    return ReportResult(target, target.stat().st_size, time.perf_counter() - start, n)
