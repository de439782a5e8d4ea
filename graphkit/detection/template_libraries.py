"""Template libraries: templates that the same accounts use together, linked as one.

A distillation campaign rarely sends one prompt template. It runs a *library* (tens of
templates covering the skills it wants) spread over its accounts: each account sends a few of
them, each template a small share of its traffic, and any two accounts share only some of the
same templates. Scored template by template, such a fleet ties weakly: every shared template
carries a share of about one percent, while a stranger whose traffic the account resells (a
proxy reseller's "hydra" mixes customers' requests into its own) shares one popular template at
twenty. The library shows in the templates' users instead: the users of one of its templates
are, far beyond chance, the users of the others.

Two templates are joined when both hold (``Settings.template_library_*``):

* their co-users are at least ``template_library_lift`` times what independent use would give,
  ``n_ab * N / (n_a * n_b)``;
* their co-users are at least ``template_library_overlap`` of the *larger* template's users, so a
  popular template used by a few of a fleet's accounts besides everyone else is no member, and
  libraries do not chain through popular templates;

and both have at least ``template_library_min_users`` users (below that, a template's users
are its few accounts, which the template itself already ties). Joined templates are grouped
so that each is joined with at least about ``template_library_density`` of its group (Leiden
with the constant Potts model): two fleets that both use one template stay two libraries.

The lift cannot exceed ``N / n_b``: a library used by more than ``N / template_library_lift``
accounts (a tenth of the population by default) is not found, a limit of this rule; such a
fleet is large enough to be tied by what else it shares.

A library is kept when its typical user (the median over its users that send two of its
templates or more) sends at least ``template_library_min_templates`` of them: a tie through a library stands for the
many small shares it sums. Where each user sends one or two of them (applications built on a
popular framework, each sending its own two prompts), the templates tie their users themselves
and the library would only join unrelated customers. The template signal then counts an
account's share of a kept library as one entity (:func:`fold_libraries`), weighted as one of
its member templates (the median member's number of users), not as the union of all its users:
two accounts drawing from the same library share templates as rare as its members, whichever
ones each drew. The union still decides whether the library is a hub. A library of templates that the
whole population uses (a popular collection of public prompts) ties its users as a popular
template would; whether the group it gathers is coordinated is decided by the community tests,
as for any tie.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> from graphkit.settings import Settings
>>> s = Settings(template_library_min_users=2, template_library_lift=2.0,
...              template_library_min_templates=2)
>>> counts = sp.csr_matrix(np.array([[3, 2, 0], [1, 4, 0], [0, 0, 5], [0, 0, 5], [0, 0, 2],
...                                  [0, 0, 1], [0, 0, 1], [0, 0, 1]]))
>>> lib = template_libraries(counts, s)
>>> lib.family.tolist(), lib.weight_degree.tolist()
([0, 0, 1], [2.0, 6.0])
>>> f = fold_libraries(counts, np.array(["a", "b", "c"]), s)
>>> f.keys.tolist(), f.counts[:2].toarray().tolist(), f.weight_degree.tolist()
(['library of a', 'c'], [[5.0, 0.0], [5.0, 0.0]], [2.0, nan])

References
----------
.. [1] K. W. Church and P. Hanks, "Word association norms, mutual information, and
   lexicography", Computational Linguistics 16(1), 1990 (co-occurrence against independence:
   the lift, or pointwise mutual information).
"""

from __future__ import annotations

from dataclasses import dataclass

import igraph as ig
import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphkit.detection.communities import seeded_leiden
from graphkit.detection.near_duplicates import family_incidence
from graphkit.settings import Settings


@dataclass(frozen=True)
class Libraries:
    """Template libraries found in one run.

    Attributes
    ----------
    family : numpy.ndarray
        Per template (column of the counts), its library index; a template in no library is
        its own.
    weight_degree : numpy.ndarray
        Per library, the number of users its idf weight is computed from: the median of its
        templates' users (a lone template: its own users).
    """

    family: np.ndarray
    weight_degree: np.ndarray

    @property
    def n_libraries(self) -> int:
        """Libraries of two templates or more."""
        return int((np.bincount(self.family) > 1).sum())


def joined_templates(users: sp.csr_matrix, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of templates ``(i, j)``, ``i < j``, that the same accounts use together.

    ``users`` is the accounts x templates 0/1 matrix of use. One sparse product over the
    templates with at least ``template_library_min_users`` users.

    >>> u = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 1]]))
    >>> i, j = joined_templates(u, Settings(template_library_min_users=2,
    ...                                      template_library_lift=2.0))
    >>> i.tolist(), j.tolist()
    ([0], [1])
    """
    degree = np.diff(users.tocsc().indptr)
    # The lift of a pair is at most N / the larger degree: a template more popular than
    # N / template_library_lift joins nothing, and left out it costs the product nothing.
    most = users.shape[0] / settings.template_library_lift
    kept = np.flatnonzero((degree >= settings.template_library_min_users) & (degree <= most))
    if len(kept) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    sub = users[:, kept].tocsr()
    co = sp.triu(sub.T @ sub, k=1).tocoo()
    a, b, n_ab = co.row, co.col, co.data.astype(np.float64)
    d_a, d_b = degree[kept[a]].astype(np.float64), degree[kept[b]].astype(np.float64)
    lift = n_ab * users.shape[0] / (d_a * d_b)
    overlap = n_ab / np.maximum(d_a, d_b)
    ok = (lift >= settings.template_library_lift) & (overlap >= settings.template_library_overlap)
    return kept[a[ok]].astype(np.int64), kept[b[ok]].astype(np.int64)


def template_libraries(counts: sp.spmatrix, settings: Settings) -> Libraries:
    """Group the templates (columns of the accounts x templates ``counts``) into libraries.

    Parameters
    ----------
    counts : scipy.sparse matrix
        Requests per account and template (or template family).
    settings : Settings
        ``template_libraries`` (False: every template is its own library),
        ``template_library_lift``, ``template_library_overlap``,
        ``template_library_min_users``, ``template_library_min_templates``.

    Returns
    -------
    Libraries
    """
    users = sp.csr_matrix(counts, dtype=np.float64, copy=True)
    users.data = (users.data > 0).astype(np.float64)
    users.eliminate_zeros()
    degree = np.diff(users.tocsc().indptr).astype(np.float64)
    n = users.shape[1]
    if not settings.template_libraries or n < 2:
        return Libraries(np.arange(n), degree)
    i, j = joined_templates(users, settings)
    family = _dense_groups(i, j, n, settings)
    family = _keep_spread_libraries(users, family, settings.template_library_min_templates)
    weight_degree = pd.Series(degree).groupby(family).median().to_numpy(np.float64)
    return Libraries(family.astype(np.int64), weight_degree)


def _dense_groups(i: np.ndarray, j: np.ndarray, n: int, settings: Settings) -> np.ndarray:
    """Groups of the joined templates in which each template is joined with at least about
    ``template_library_density`` of the others (Leiden, constant Potts model): two fleets
    that both use one template are not chained into one library through it."""
    if not len(i):
        return np.arange(n)
    # Only the joined templates enter the graph (a million templates, a few hundred joined).
    nodes, codes = np.unique(np.concatenate([i, j]), return_inverse=True)
    g = ig.Graph(n=len(nodes), edges=codes.reshape(2, -1).T.tolist())
    part = seeded_leiden(g, settings.seed, objective_function="CPM",
                         resolution=settings.template_library_density, n_iterations=-1)
    label = n + np.arange(n)  # every other template its own group
    label[nodes] = np.asarray(part.membership, dtype=np.int64)
    return np.unique(label, return_inverse=True)[1]


def column_medians(m: sp.csc_matrix) -> np.ndarray:
    """Median of each column's stored values (0 for an empty column), without a loop.

    >>> column_medians(sp.csc_matrix(np.array([[1.0, 0.0], [3.0, 0.0], [4.0, 2.0]])))
    array([3., 2.])
    """
    n_col = m.shape[1]
    count = np.diff(m.indptr)
    col = np.repeat(np.arange(n_col), count)
    order = np.lexsort((m.data, col))
    values = m.data[order]
    lo = m.indptr[:-1] + (count - 1) // 2
    hi = m.indptr[:-1] + count // 2
    out = np.zeros(n_col)
    has = count > 0
    out[has] = (values[lo[has]] + values[hi[has]]) / 2.0
    return out


def _keep_spread_libraries(users: sp.csr_matrix, family: np.ndarray, min_templates: int
                           ) -> np.ndarray:
    """``family`` with every library whose median user sends fewer than ``min_templates`` of
    its templates split back into single templates (relabelled 0..k-1)."""
    n_fam = int(family.max()) + 1
    to_family = sp.csr_matrix((np.ones(len(family)), (np.arange(len(family)), family)),
                              shape=(len(family), n_fam))
    spread = (users @ to_family).tocsc()  # accounts x families: templates of it used
    # Over the users that send two of its templates or more: accounts sending one (a
    # stranger who copied one prompt, or throwaway accounts added to lower the median) are
    # no sign of how a library is used.
    spread.data[spread.data < 2] = 0
    spread.eliminate_zeros()
    spread.sort_indices()
    median = column_medians(spread)
    kept = (np.bincount(family)[family] > 1) & (median[family] >= min_templates)
    label = np.where(kept, family, n_fam + np.arange(len(family)))
    return np.unique(label, return_inverse=True)[1]


@dataclass(frozen=True)
class Folded:
    """Template counts with libraries folded in (:func:`fold_libraries`).

    Attributes
    ----------
    counts : scipy.sparse.csr_matrix
        Accounts x entities: per library, or per template in none, the account's requests.
    keys : numpy.ndarray
        Per entity, its key: the template's, or ``"library of <first template>"``.
    weight_degree : numpy.ndarray
        Per entity, the number of users its idf weight is computed from; NaN for a template
        (its own users, :func:`graphkit.detection.links.signal_matrix`).
    """

    counts: sp.csr_matrix
    keys: np.ndarray
    weight_degree: np.ndarray


def fold_libraries(counts: sp.spmatrix, keys: np.ndarray, settings: Settings) -> Folded:
    """Fold each library of ``counts``' templates (:func:`template_libraries`) into one entity:
    an account's requests on any of its templates count on the library."""
    lib = template_libraries(counts, settings)
    sizes = np.bincount(lib.family, minlength=1)
    first = pd.Series(np.asarray(keys, dtype=object)).groupby(lib.family).first().to_numpy()
    folded_keys = np.where(sizes > 1, "library of " + first.astype(str), first).astype(object)
    return Folded(family_incidence(counts, lib.family), folded_keys,
                  np.where(sizes > 1, lib.weight_degree, np.nan))
