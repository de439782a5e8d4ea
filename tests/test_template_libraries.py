"""Template libraries: co-used templates linked as one (graphkit.detection.template_libraries)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from graphkit.detection.links import pair_similarities, signal_matrix
from graphkit.detection.template_libraries import fold_libraries, template_libraries
from graphkit.settings import Settings

N_BACKGROUND, N_FLEET, N_PUBLIC, N_LIBRARY = 20_000, 400, 200, 40


def _population(seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """Accounts x templates counts: background accounts on one or two public templates each
    (independently, popularity Zipf-like), then a fleet whose accounts each send 20 of a
    40-template library once and 60 requests on one public template (resold traffic).
    Returns the counts and the per-account fleet mask."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, N_PUBLIC + 1)
    pop /= pop.sum()
    rows, cols, vals = [], [], []
    for k in range(2):  # two public templates per background account, independent draws
        rows.append(np.arange(N_BACKGROUND))
        cols.append(rng.choice(N_PUBLIC, N_BACKGROUND, p=pop))
        vals.append(np.full(N_BACKGROUND, 10.0 - 5 * k))
    fleet = np.arange(N_BACKGROUND, N_BACKGROUND + N_FLEET)
    picks = np.argsort(rng.random((N_FLEET, N_LIBRARY)), axis=1)[:, :20]
    rows.append(np.repeat(fleet, 20))
    cols.append(N_PUBLIC + picks.ravel())
    vals.append(np.ones(20 * N_FLEET))
    rows.append(fleet)
    cols.append(rng.choice(N_PUBLIC, N_FLEET, p=pop))
    vals.append(np.full(N_FLEET, 60.0))
    n = N_BACKGROUND + N_FLEET
    counts = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(n, N_PUBLIC + N_LIBRARY))
    counts.sum_duplicates()
    mask = np.zeros(n, bool)
    mask[fleet] = True
    return counts, mask


def test_a_library_is_found_whole_and_nothing_public_joins_it():
    counts, _ = _population()
    lib = template_libraries(counts, Settings())
    library = lib.family[N_PUBLIC:]
    assert len(np.unique(library)) == 1  # all 40 templates in one library
    assert not np.isin(lib.family[:N_PUBLIC], library).any()  # no public template in it
    assert lib.n_libraries == 1
    # Weighed as one of its templates (each used by about half the fleet), not the union.
    assert 150 <= lib.weight_degree[library[0]] <= 250


def test_the_library_ties_the_fleet_more_than_its_templates_one_by_one():
    counts, fleet = _population()
    n_events = np.asarray(counts.sum(axis=1)).ravel()
    keys = np.array([f"t{i}" for i in range(counts.shape[1])], dtype=object)
    rng = np.random.default_rng(1)
    members = np.flatnonzero(fleet)
    a, b = rng.choice(members, 300), rng.choice(members, 300)
    keep = a != b

    def fleet_similarity(settings: Settings) -> float:
        f = fold_libraries(counts, keys, settings)
        sig = signal_matrix("template", f.counts, n_events, f.keys, settings,
                            weight_degree=f.weight_degree)
        return float(pair_similarities({"template": sig}, a[keep], b[keep], settings)
                     ["template"].mean())

    off = fleet_similarity(Settings(template_libraries=False, min_entity_share=0.0))
    on = fleet_similarity(Settings(min_entity_share=0.0))
    # Each pair shares about half the 20 templates each sends: one by one they count the shared
    # half of the library traffic, as a library all of it.
    assert on > 1.8 * off


def _fleets_sharing(n: int, popular_others: int, seed: int = 2) -> sp.csr_matrix:
    """Two fleets of 300 on templates 1-5 and 6-10, all of fleet A on template 0 too, which
    ``popular_others`` other accounts also use."""
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for start, lib_cols in ((0, (1, 2, 3, 4, 5)), (300, (6, 7, 8, 9, 10))):
        members = np.arange(start, start + 300)
        for c in lib_cols:
            rows.append(members)
            cols.append(np.full(300, c))
    others = 600 + rng.choice(n - 600, popular_others, replace=False)
    users_of_0 = np.concatenate([np.arange(300), others])
    rows.append(users_of_0)
    cols.append(np.zeros(len(users_of_0), int))
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, 11))


def test_a_popular_template_is_no_member():
    """Template 0 is used by all of fleet A and 900 others: its co-users with A's templates
    are 42 times what chance gives, but a quarter of its own users, below the overlap."""
    counts = _fleets_sharing(50_000, 900)
    fam = template_libraries(counts, Settings()).family
    assert len(set(fam[1:6])) == 1 and len(set(fam[6:11])) == 1
    assert len({fam[0], fam[1], fam[6]}) == 3
    # The overlap rule is what keeps it out.
    loose = template_libraries(counts, Settings(template_library_overlap=0.2)).family
    assert loose[0] == loose[1]


def test_two_fleets_sharing_one_template_stay_two_libraries():
    """Template 0 is used by both fleets (600 users, half from each): joined with the
    templates of both, it would chain them into one library; grouped by density it does not."""
    counts = _fleets_sharing(50_000, 0, seed=4).tolil()
    counts[300:600, 0] = 1.0  # fleet B on template 0 too
    counts = counts.tocsr()
    fam = template_libraries(counts, Settings()).family
    assert fam[1] != fam[6]
    assert len(set(fam[1:6])) == 1 and len(set(fam[6:11])) == 1
    # Grouped at any density (connected components), template 0 chains them.
    chained = template_libraries(counts, Settings(template_library_density=1e-6)).family
    assert chained[1] == chained[6]


def test_throwaway_accounts_sending_one_template_do_not_dissolve_a_library():
    """400 extra accounts that each send one of the fleet's 40 templates would pull the median
    user's spread below template_library_min_templates; only users sending two or more
    count."""
    counts, _ = _population()
    extra = sp.csr_matrix((np.ones(400), (np.arange(400), N_PUBLIC + np.arange(400) % N_LIBRARY)),
                          shape=(400, counts.shape[1]))
    both = sp.vstack([counts, extra]).tocsr()
    lib = template_libraries(both, Settings())
    assert len(np.unique(lib.family[N_PUBLIC:])) == 1 and lib.n_libraries == 1


def test_a_framework_whose_users_send_two_of_its_templates_is_no_library():
    """Applications built on one framework each send their own two of its four prompts: the
    templates are co-used far beyond chance, but a typical user spreads over two, below
    template_library_min_templates, so they stay apart (each ties its own users)."""
    rng = np.random.default_rng(3)
    n, apps = 20_000, 600
    pairs = np.array([(i, j) for i in range(4) for j in range(i + 1, 4)])
    chosen = pairs[rng.integers(0, len(pairs), apps)]
    rows = np.repeat(np.arange(apps), 2)
    counts = sp.csr_matrix((np.full(2 * apps, 10.0), (rows, chosen.ravel())), shape=(n, 4))
    assert template_libraries(counts, Settings()).n_libraries == 0
    # The same templates are joined: only the spread rule keeps them apart.
    assert template_libraries(counts, Settings(template_library_min_templates=2)
                              ).n_libraries == 1


def test_switched_off_every_template_is_its_own():
    counts, _ = _population()
    lib = template_libraries(counts, Settings(template_libraries=False))
    assert lib.family.tolist() == list(range(counts.shape[1]))
    assert lib.n_libraries == 0


def test_a_library_used_by_a_hub_sized_crowd_is_still_a_hub():
    """The union of a library's users decides the hub cut; its weight comes from its members."""
    s = Settings(max_entity_degree=100)
    n = 1000
    assert s.hub_degree(n) < n
    counts = sp.csr_matrix(np.ones((n, 1)))
    hub = signal_matrix("template", counts, np.ones(n), np.array(["x"]), s,
                        weight_degree=np.array([10.0]))
    assert hub.idf[0] == 0.0  # used by everyone: a hub, whatever its members
    small = sp.csr_matrix((np.ones(40), (np.arange(40), np.zeros(40, int))), shape=(n, 1))
    plain = signal_matrix("template", small, np.ones(n), np.array(["x"]), s)
    weighed = signal_matrix("template", small, np.ones(n), np.array(["x"]), s,
                            weight_degree=np.array([5.0]))
    assert weighed.idf[0] > plain.idf[0]
    same = signal_matrix("template", small, np.ones(n), np.array(["x"]), s,
                         weight_degree=np.array([np.nan]))
    assert same.idf[0] == plain.idf[0]


@hsettings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_libraries_do_not_depend_on_template_order(seed: int):
    counts, _ = _population(seed % 7)
    perm = np.random.default_rng(seed).permutation(counts.shape[1])
    s = Settings()
    base = template_libraries(counts, s).family
    shuffled = template_libraries(counts[:, perm], s).family
    # Same partition: two templates share a library in one order iff they do in the other.
    assert np.array_equal(base[perm][:, None] == base[perm][None, :],
                          shuffled[:, None] == shuffled[None, :])
