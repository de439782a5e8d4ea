"""Random walks with restart over the heterogeneous account graph.

The walk graph has one vertex per account and one per entity of every weighted link signal
(IP, payment method, template family, proxy operator, user agent), with the account -> entity
edges of :mod:`graphkit.detection.signals` weighted as link scoring weighs them::

    w(a, e) = weight_s * share_a(e) * idf(e)

(the same traffic shares and rare-value weights, :func:`graphkit.detection.links.idf_weights`;
hubs weigh 0 and drop out), plus, when given, the scored account-account links
(:class:`graphkit.detection.links.Links`, ``walk_link_weight`` times their (trimmed)
Horvitz-Thompson weight). A walk therefore crosses a card, a template or a relay exit as readily as a link, and
reaches accounts of a campaign that Leiden split into several communities.

Personalized PageRank runs in igraph's C implementation (PRPACK), one call per reset vector.

>>> import numpy as np, scipy.sparse as sp
>>> from graphkit.detection.links import signal_matrix
>>> from graphkit.settings import Settings
>>> s = Settings()
>>> ip = signal_matrix("ip", sp.csr_matrix(np.array([[4.0, 0], [4, 0], [0, 4], [0, 4]])),
...                    np.full(4, 4), np.array(["10.0.0.1", "10.0.0.2"]), s)
>>> g = walk_graph({"ip": ip}, settings=s)
>>> p = g.pagerank(g.account_reset(np.array([0])))
>>> bool(p[1] > 0.1 and p[2] == 0.0)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import igraph as ig
import numpy as np
import scipy.sparse as sp

from graphkit.detection.links import Links, SignalMatrix
from graphkit.settings import Settings


@dataclass
class WalkGraph:
    """Accounts and entities as one weighted undirected igraph graph.

    Vertices ``0 .. n_accounts - 1`` are the accounts (detection codes); each signal's
    entities follow in ``offsets[signal] + column`` order.
    """

    graph: ig.Graph
    n_accounts: int
    offsets: dict[str, int]
    signals: dict[str, SignalMatrix]
    damping: float

    @property
    def n_vertices(self) -> int:
        return self.graph.vcount()

    def account_reset(self, accounts: np.ndarray, weights: np.ndarray | None = None
                      ) -> np.ndarray:
        """A reset vector spread over ``accounts`` (codes), uniform unless ``weights``."""
        reset = np.zeros(self.n_vertices)
        w = np.ones(len(accounts)) if weights is None else np.asarray(weights, np.float64)
        np.add.at(reset, np.asarray(accounts, np.int64), w)
        return reset

    def entity_vertices(self, signal: str, columns: np.ndarray) -> np.ndarray:
        """Vertex ids of entity ``columns`` of ``signal``."""
        return self.offsets[signal] + np.asarray(columns, np.int64)

    def pagerank(self, reset: np.ndarray) -> np.ndarray:
        """Personalized PageRank from ``reset`` (any non-negative vector over the vertices);
        the stationary mass of every vertex, summing to 1. A zero reset gives zeros."""
        reset = np.asarray(reset, np.float64)
        if reset.sum() <= 0:
            return np.zeros(self.n_vertices)
        pr = self.graph.personalized_pagerank(
            directed=False, damping=self.damping, reset=(reset / reset.sum()).tolist(),
            weights="weight", implementation="prpack")
        return np.asarray(pr)

    def background(self) -> np.ndarray:
        """PageRank restarting uniformly on every account: the mass an account draws from an
        unrelated starting point (what per-actor mass is compared against)."""
        return self.pagerank(self.account_reset(np.arange(self.n_accounts)))


def entity_edges(signals: dict[str, SignalMatrix], settings: Settings
                 ) -> dict[str, sp.csr_matrix]:
    """Per weighted signal: accounts x entities of ``weight_s * share * idf`` (hubs dropped)."""
    out = {}
    for name, sig in signals.items():  # a handful of signals
        w = settings.weight(name)
        if w <= 0:
            continue
        m = sp.csr_matrix(sig.shares @ sp.diags(w * sig.idf))
        m.eliminate_zeros()
        out[name] = m
    return out


def walk_graph(signals: dict[str, SignalMatrix], links: Links | None = None,
               settings: Settings | None = None,
               extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> WalkGraph:
    """The walk graph of accounts, entities and (optionally) scored links.

    Parameters
    ----------
    signals : dict of str to SignalMatrix
        Account x entity shares per signal (:func:`graphkit.detection.signals.signal_matrices`).
    links : Links, optional
        Scored account pairs, added as account-account edges weighted
        ``settings.walk_link_weight`` times :meth:`Links.edge_weights`.
    settings : Settings, optional
        ``signal_weights`` (per signal edge weight), ``walk_link_weight``, ``walk_damping``.
    extra : tuple of ndarray, optional
        More account-account edges ``(a, b, weight)``, e.g. successions (a banned account and
        its replacement).

    Returns
    -------
    WalkGraph

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from graphkit.detection.links import signal_matrix
    >>> card = signal_matrix("payment", sp.csr_matrix(np.eye(3)[[0, 0, 1]]), np.ones(3),
    ...                      np.array(["pm_a", "pm_b", "pm_c"]), Settings())
    >>> g = walk_graph({"payment": card})
    >>> g.n_accounts, g.offsets
    (3, {'payment': 3})
    """
    settings = settings or Settings()
    mats = entity_edges(signals, settings)
    n = next(iter(signals.values())).shares.shape[0] if signals else (
        links.n_accounts if links is not None else 0)
    offsets: dict[str, int] = {}
    src, dst, wts = [], [], []
    start = n
    for name, m in mats.items():  # a handful of signals
        offsets[name] = start
        coo = m.tocoo()
        src.append(coo.row.astype(np.int64))
        dst.append(coo.col.astype(np.int64) + start)
        wts.append(coo.data)
        start += m.shape[1]
    if links is not None and len(links.table) and settings.walk_link_weight > 0:
        t = links.table
        src.append(t["a"].to_numpy(np.int64))
        dst.append(t["b"].to_numpy(np.int64))
        wts.append(settings.walk_link_weight * links.edge_weights())
    if extra is not None and len(extra[0]):
        src.append(np.asarray(extra[0], np.int64))
        dst.append(np.asarray(extra[1], np.int64))
        wts.append(np.asarray(extra[2], np.float64))
    edges = (np.column_stack([np.concatenate(src), np.concatenate(dst)]) if src
             else np.zeros((0, 2), np.int64))
    g = ig.Graph(n=start, edges=edges, directed=False)
    g.es["weight"] = np.concatenate(wts).tolist() if wts else []
    return WalkGraph(g, n, offsets, signals, settings.walk_damping)
