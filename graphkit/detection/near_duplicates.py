"""Near-duplicate prompt templates, found with MinHash LSH over word shingles.

Exact template hashes (graphkit.io.templates) fold the values a template is filled with; fleets
also edit their templates a little (a word added, one swapped) to dodge exact matching. Here each
template's normalized text becomes a set of word ``k``-shingles; MinHash LSH proposes pairs,
estimated Jaccard similarity confirms them, and connected components give *families* of
near-identical templates. The template signal then links accounts through families.

>>> import duckdb
>>> con = duckdb.connect()
>>> _ = con.execute("CREATE TABLE templates AS SELECT * FROM (VALUES "
...   "('a', 'you are a strict grader score the answer from <num> to <num> and explain each point'),"
...   "('b', 'you are a strict grader score the answer from <num> to <num> and explain every point'),"
...   "('c', 'translate the text into french')) t(template_hash, template_text)")
>>> fam = template_families(con, ["a", "b", "c"], Settings())
>>> bool(fam[0] == fam[1]), bool(fam[0] == fam[2])
(True, False)
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from graphkit.detection import minhash
from graphkit.settings import Settings


def template_families(con: duckdb.DuckDBPyConnection, template_keys: Sequence[str],
                      settings: Settings) -> np.ndarray:
    """Family index per template key (same order as ``template_keys``).

    Templates without text (hashes given in the input rather than derived from prompts) are
    their own family.
    """
    n = len(template_keys)
    keys = pd.DataFrame({"template_hash": np.asarray(template_keys, dtype=object),
                         "idx": np.arange(n, dtype=np.int64)})
    con.register("gk_template_keys", keys)
    try:
        shingles = con.execute(
            """
            WITH w AS (
                SELECT k.idx, string_split(t.template_text, ' ') AS words
                FROM templates t JOIN gk_template_keys k USING (template_hash)
                WHERE t.template_text IS NOT NULL AND t.template_text <> ''
            )
            SELECT idx, hash(unnest(CASE WHEN len(words) < $k THEN [array_to_string(words, ' ')]
                ELSE list_transform(range(1, len(words) - $k + 2),
                                    lambda i: array_to_string(words[i:i + $k - 1], ' '))
                END)) AS h
            FROM w
            """,
            {"k": int(settings.template_shingle_words)},
        ).fetchnumpy()
    finally:
        con.unregister("gk_template_keys")
    idx, h = shingles["idx"].astype(np.int64), shingles["h"].astype(np.uint64)
    has_text = np.zeros(n, dtype=bool)
    has_text[idx] = True
    if has_text.sum() < 2:
        return np.arange(n)
    sig = minhash.signatures(idx, h, n_groups=n, k=settings.minhash_permutations,
                             seed=settings.seed)
    pairs = minhash.lsh_candidate_pairs(sig, bands=settings.lsh_bands, active=has_text)
    if len(pairs):
        jac = minhash.estimated_jaccard(sig, pairs[:, 0], pairs[:, 1])
        pairs = pairs[jac >= settings.template_similarity]
    adj = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, family = connected_components(adj, directed=False)
    return family


def family_incidence(counts: sp.spmatrix, family: np.ndarray) -> sp.csr_matrix:
    """Account x family counts from account x template counts."""
    n_templates = len(family)
    to_family = sp.csr_matrix((np.ones(n_templates), (np.arange(n_templates), family)),
                              shape=(n_templates, int(family.max()) + 1 if n_templates else 0))
    return sp.csr_matrix(counts @ to_family)
