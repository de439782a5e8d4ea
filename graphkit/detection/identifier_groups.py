"""Identifier groups: accounts joined by what they hold, tested apart from the crowd around them.

Leiden keeps a group whose members are tied more densely than ``Settings.resolution``. A
crowd sharing one carrier's NAT pool is such a group, and rightly so: its members do share
their addresses. A phone farm behind that carrier shares the pool too, and its devices and
SIM numbers on top, but its accounts are a tenth of the crowd's: the community holds both, its
rates are the crowd's, and the cut clears it with the farm inside.

What an account *holds* (a payment method, a device, a phone number, an API key, an e-mail
address: :attr:`graphkit.registry.Registry.held_signals`) is not a service shared by
strangers. In the communities the cut did not flag, the accounts joined by held identifiers
(connected components over the links with such evidence, as the naive recipe builds them) form
a second set of candidate groups: each component of ``min_community_size`` accounts or more
becomes a community of its own (a component can take accounts of several cleared communities:
a farm the crowd's communities cut in pieces comes out whole), the rest of each community
stays one, and the same cut and purpose test judge them all again. What is left of a community
below ``min_community_size`` is not tested again (the first pass cleared it). The communities
the cut flagged are left as they are, with their first test. A family on one device, an
office on its card, an agency on its clients' card come out as small groups the tests clear
as before; a farm comes out whole.

A cleared community's dense cores (:func:`dense_cores`: Leiden again over its strong links)
join the groups as held links do: a ring tied completely inside the crowd of a VPN it shares
exits with. A core depends on the cleared communities' strong links together (one Leiden run
over all of them), so another community's change can move it, as it can move the partition.

The groups are candidates: only those the second test bears out stay split (:func:`narrowed`,
:func:`split_flags`), the others go back to the community Leiden found.

>>> import pandas as pd
>>> from graphkit.detection.links import Links
>>> t = pd.DataFrame({"a": [0, 0, 1, 3], "b": [1, 2, 2, 4], "score": [0.3, 0.3, 0.9, 0.3],
...                   "ip": [0.2, 0.2, 0.2, 0.2], "device": [0.0, 0.0, 0.9, 0.0]})
>>> split = held_split(Links(t, 6), np.array([0, 0, 0, 0, 0, 1]), np.zeros(2, bool),
...                    ("device",), 2)
>>> split.membership.tolist(), split.grouped.tolist()
([0, 3, 3, 0, 0, 1], [False, True, True, False, False, False])

References
----------
.. [1] Q. Cao, X. Yang, J. Yu and C. Palow, "Uncovering large groups of active malicious
   accounts in online social networks", ACM CCS 2014 (clusters by shared identifiers).
"""

from __future__ import annotations

from dataclasses import dataclass

import igraph as ig
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from graphkit.detection.communities import seeded_leiden
from graphkit.detection.links import Links


@dataclass(frozen=True)
class Split:
    """:func:`held_split`'s result: the new labels per account code (not ordered by size: the
    old ones, and ``old.max() + 1 + component`` for the members of a kept group), which
    accounts are in a kept group, which were in a community the cut flagged, and which links
    carry a held identifier (not the dense cores' links that also joined groups)."""

    membership: np.ndarray
    grouped: np.ndarray
    was_flagged: np.ndarray
    held_link: np.ndarray


def held_split(links: Links, membership: np.ndarray, flagged: np.ndarray,
               held: tuple[str, ...], min_size: int, cores: np.ndarray | None = None
               ) -> Split | None:
    """The partition with each identifier group of the unflagged communities as a community
    of its own, or None when no group differs from the community it was found in.

    Parameters
    ----------
    links : Links
        Scored links, with one similarity column per signal.
    membership : numpy.ndarray
        Community per account code.
    flagged : numpy.ndarray of bool
        Per community: the cut flagged it (its members stay where they are).
    held : tuple of str
        The signals of identifiers an account holds (columns of ``links.table``).
    min_size : int
        Smallest group kept (``Settings.min_community_size``).
    cores : numpy.ndarray, optional
        Dense core per account code (-1: none, :func:`dense_cores`): a core's internal links
        join groups as held identifiers do.

    Returns
    -------
    Split or None
    """
    held_link = _held_links(links, held)
    if (held_link is None and cores is None) or len(links.table) == 0:
        return None
    t = links.table
    a, b = t["a"].to_numpy(), t["b"].to_numpy()
    if held_link is None:
        held_link = np.zeros(len(t), bool)
    was_flagged = flagged[membership]
    tie = held_link if cores is None else held_link | ((cores[a] == cores[b]) & (cores[a] >= 0))
    use = tie & ~was_flagged[a] & ~was_flagged[b]
    if not use.any():
        return None
    n = len(membership)
    graph = sp.coo_matrix((np.ones(int(use.sum()), np.int8), (a[use], b[use])), (n, n))
    _, comp = connected_components(graph, directed=False)
    # A group has two accounts at least (a singleton is no group, whatever min_size says).
    grouped = (np.bincount(comp)[comp] >= max(min_size, 2)) & ~was_flagged
    if not grouped.any():
        return None
    new = np.where(grouped, membership.max() + 1 + comp, membership)
    if _same_partition(membership, new):
        return None
    return Split(new, grouped, was_flagged, held_link)


def dense_cores(links: Links, membership: np.ndarray, flagged: np.ndarray, resolution: float,
                min_size: int, seed: int) -> np.ndarray | None:
    """Per account code, its dense core inside a cleared community (-1: none); None when
    there is none.

    Leiden (CPM at ``resolution``, [1]_) over the links inside each community the cut did not
    flag, weighted by their scores (the evidence of the pair, not the sampling weight a
    community's total needs): a group whose members are tied to each other at an average score
    above ``resolution``. Only the links at ``resolution`` or above are read: a weaker one could
    only add to a core that its stronger ties already make (a pair without a link counts 0), so
    the cores are if anything tighter, and the graph is that of the strong links. A core of
    ``min_size`` accounts or more that is smaller than its community is kept. CPM at the partition's low resolution keeps a crowd together with
    whatever is tied to it, so a ring tied completely inside a VPN's crowd is measured at the
    crowd's rates; its core is not.

    >>> import pandas as pd
    >>> ring = [(i, j, 0.95) for i in range(4) for j in range(i + 1, 4)]
    >>> crowd = [(i, j, 0.3) for i in range(4) for j in range(4, 8)]
    >>> a, b, s = zip(*(ring + crowd))
    >>> links = Links(pd.DataFrame({"a": a, "b": b, "score": s}), 8)
    >>> dense_cores(links, np.zeros(8, int), np.zeros(1, bool), 0.5, 3, 0).tolist()
    [0, 0, 0, 0, -1, -1, -1, -1]

    References
    ----------
    .. [1] V. A. Traag, L. Waltman and N. J. van Eck, "From Louvain to Leiden: guaranteeing
       well-connected communities", Scientific Reports 9, 5233, 2019.
    """
    t = links.table
    a, b = t["a"].to_numpy(), t["b"].to_numpy()
    score = t["score"].to_numpy(np.float64)
    size = np.bincount(membership)
    inside = ((membership[a] == membership[b]) & ~flagged[membership[a]]
              & (size[membership[a]] > min_size) & (score >= resolution))
    if not inside.any():
        return None
    # Over the accounts these links touch only, numbered compactly.
    nodes, ends = np.unique(np.concatenate([a[inside], b[inside]]), return_inverse=True)
    g = ig.Graph(n=len(nodes), edges=ends.reshape(2, -1).T)
    part = seeded_leiden(g, seed, objective_function="CPM", resolution=resolution,
                         weights=score[inside], n_iterations=2)
    label = np.asarray(part.membership, np.int64)
    label_size = np.bincount(label)[label]
    keep = (label_size >= max(min_size, 2)) & (label_size < size[membership[nodes]])
    if not keep.any():
        return None
    core = np.full(len(membership), -1, np.int64)
    core[nodes[keep]] = label[keep]
    return core


def narrowed(split: Split, old: np.ndarray, flagged_after: np.ndarray) -> Split | None:
    """``split`` with only the groups its test bore out; the others' members back in their
    ``old`` communities. None when no group stays.

    A group stays when its own community was flagged (``flagged_after``: per account code, its
    community in ``split`` was flagged) or when what was left of a community it was taken from
    was (that rest was tested without it). A group the test cleared was a candidate and no
    more: the community Leiden found describes its members as well as before, and keeps its
    place from one day's run to the next (a community of a few cards is not cut into its
    cards).

    >>> s = Split(np.array([5, 5, 6, 6, 0, 7, 7, 1]), np.array([1, 1, 1, 1, 0, 1, 1, 0], bool),
    ...           np.zeros(8, bool), np.array([True]))
    >>> old = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    >>> narrowed(s, old, np.array([1, 1, 0, 0, 0, 0, 0, 1], bool)).membership.tolist()
    [5, 5, 0, 0, 0, 7, 7, 1]
    """
    old = np.asarray(old, np.int64)
    rest = ~split.grouped & ~split.was_flagged & flagged_after
    rest_flagged = np.zeros(int(old.max()) + 1, bool)
    rest_flagged[old[rest]] = True
    label = np.unique(split.membership, return_inverse=True)[1]
    stays = np.zeros(int(label.max()) + 1, bool)
    member = split.grouped & (flagged_after | rest_flagged[old])
    stays[label[member]] = True
    grouped = split.grouped & stays[label]
    if not grouped.any():
        return None
    return Split(np.where(grouped, split.membership, old), grouped, split.was_flagged,
                 split.held_link)


def split_flags(split: Split, old: np.ndarray, flagged_after: np.ndarray) -> np.ndarray:
    """Per account code: flagged (``flagged_after``) because of ``split``, a member of one of
    its groups or of what was left of an ``old`` community a group was taken from. A cleared
    community the split did not touch that the second test flagged (its larger number of
    tests can move Benjamini-Hochberg's cut either way) is not among them: it is tested again.

    >>> s = Split(np.array([5, 5, 0, 0, 1, 1]), np.array([1, 1, 0, 0, 0, 0], bool),
    ...           np.zeros(6, bool), np.array([True]))
    >>> split_flags(s, np.array([0, 0, 0, 0, 1, 1]), np.ones(6, bool)).tolist()
    [True, True, True, True, False, False]
    """
    old = np.asarray(old, np.int64)
    touched = np.zeros(int(old.max()) + 1, bool)
    touched[old[split.grouped]] = True
    rest = ~split.grouped & ~split.was_flagged & touched[old]
    return flagged_after & (split.grouped | rest)


def crowd_ties(links: Links, split: Split) -> np.ndarray:
    """Per link: it ties a member of an identifier group to an account outside the group, in
    a community the cut cleared, and carries no held identifier. The group was made by what its
    members hold; their ties to the crowd they were found in (the carrier's addresses, a
    popular template) say nothing against their membership, and nothing for the crowd's. Ties
    to a flagged community still count (an attachment to a fleet, the fleet's own loyalty).

    >>> import pandas as pd
    >>> t = pd.DataFrame({"a": [0, 0, 2, 0], "b": [1, 2, 3, 4], "score": [0.9, 0.3, 0.3, 0.3]})
    >>> split = Split(np.array([5, 5, 0, 0, 1]), np.array([1, 1, 0, 0, 0], bool),
    ...               np.array([0, 0, 0, 0, 1], bool), np.array([True, False, False, False]))
    >>> crowd_ties(Links(t, 5), split).tolist()
    [False, True, False, False]
    """
    t = links.table
    a, b = t["a"].to_numpy(), t["b"].to_numpy()
    crosses = (split.grouped[a] | split.grouped[b]) & (split.membership[a] != split.membership[b])
    return crosses & ~split.held_link & ~split.was_flagged[a] & ~split.was_flagged[b]


def _held_links(links: Links, held: tuple[str, ...]) -> np.ndarray | None:
    """Per link: a held identifier ties it (None when the table has no held column); the
    columns are read one at a time (no links x kinds copy)."""
    cols = [c for c in held if c in links.table]
    if not cols or len(links.table) == 0:
        return None
    out = np.zeros(len(links.table), bool)
    for col in cols:  # a handful of kinds
        out |= links.table[col].to_numpy() > 0
    return out


def _same_partition(old: np.ndarray, new: np.ndarray) -> bool:
    """Two labellings give the same groups (each old label maps to one new one and back)."""
    pairs = np.unique(np.stack([old, new], axis=1), axis=0)
    return len(pairs) == len(np.unique(old)) == len(np.unique(new))
