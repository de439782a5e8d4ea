"""An identifiers-and-relations-only fraud data set, built apart from graphkit's simulator.

Modelled on the public labelled fraud data sets that trust-and-safety teams try tools on
(card-not-present payments with card, device and e-mail columns and chargeback labels;
peer-to-peer transfer graphs; referral abuse): there is no request log, only accounts, the
identifiers they registered or were seen with, money transfers and referrals, and labels that
come from chargebacks (late, and missing for part of the fraud).

It is deliberately *not* shaped like graphkit's simulator: no prompts, no timing, no proxies,
and the legitimate population carries the confounders that defeat naive recipes:

* households (2-5 people) sharing a device, an address and sometimes a card, sending each other
  money;
* companies (5-80 employees) sharing an organisation id, an e-mail domain and, for some, one
  corporate card;
* popular free-mail domains, shared by everyone;
* referral trees among friends, and random transfers between unrelated customers.

Fraud comes as rings (3-150 accounts, heavy-tailed) that reuse a small pool of devices and
cards, sign up within days of each other, refer each other and funnel money to a few mule
accounts, plus lone fraudsters with no tie to anyone (no graph method can find those; they cap
every method's recall and are kept so that the figures are honest). A share of the fraud never
gets a chargeback label.

>>> ds = generate(n_accounts=2000, seed=3)
>>> sorted(ds.identifiers["kind"].unique())
['address', 'device', 'email', 'org', 'payment', 'phone']
>>> bool(ds.accounts["account_id"].is_unique)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

FREEMAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me")
DAY = np.timedelta64(86_400, "s")
START = np.datetime64("2025-01-01T00:00:00")


@dataclass
class IdentityData:
    """The generated tables (inputs in graphkit's data contract) and the truth."""

    accounts: pd.DataFrame      # account_id, created_at, country, plan
    identifiers: pd.DataFrame   # account_id, kind, value
    relations: pd.DataFrame     # src_account, dst_account, kind, ts, amount
    labels: pd.DataFrame        # account_id, label (chargeback-confirmed fraud = 1)
    truth: pd.DataFrame         # account_id, is_fraud, group (ring id, "solo" or "")

    def write(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for name in ("accounts", "identifiers", "relations", "labels", "truth"):
            getattr(self, name).to_csv(d / f"{name}.csv", index=False)
        return d


def _ids(prefix: str, n: int, start: int = 0) -> np.ndarray:
    return np.char.add(prefix, np.arange(start, start + n).astype(str)).astype(object)


def _groups(rng: np.random.Generator, n: int, low: int, high: int, alpha: float) -> np.ndarray:
    """Group label per member: sizes drawn heavy-tailed in [low, high], members in blocks."""
    sizes = []
    while sum(sizes) < n:
        s = int(np.clip(low * (1 + rng.pareto(alpha)), low, high))
        sizes.append(min(s, n - sum(sizes)))
    return np.repeat(np.arange(len(sizes)), sizes)


def _rows(account: np.ndarray, kind: str, value: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"account_id": account, "kind": kind, "value": value})


def _own(rng: np.random.Generator, accounts: np.ndarray, kind: str, prefix: str,
         mean_extra: float) -> pd.DataFrame:
    """Each account's own values of a kind: one, plus a Poisson number of extra ones."""
    n = 1 + rng.poisson(mean_extra, len(accounts))
    owner = np.repeat(accounts, n)
    return _rows(owner, kind, _ids(f"{prefix}-{kind}-", len(owner)))


def _legit(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, list[pd.DataFrame],
                                                     list[pd.DataFrame]]:
    acc = _ids("u", n)
    created = START + (rng.uniform(0, 365, n) * DAY).astype("timedelta64[s]")
    accounts = pd.DataFrame({"account_id": acc, "created_at": created,
                             "country": rng.choice(["US", "GB", "DE", "IN", "BR", "FR"], n),
                             "plan": rng.choice(["free", "pro", "team"], n, p=[.6, .3, .1])})
    ids = [_own(rng, acc, "payment", "l", 0.3), _own(rng, acc, "device", "l", 0.8),
           _own(rng, acc, "phone", "l", 0.05)]
    email_dom = rng.choice(FREEMAIL, n)
    rels: list[pd.DataFrame] = []
    # Households: share a device and an address; a third share a card; they send money.
    in_house = rng.random(n) < 0.25
    hh = _groups(rng, int(in_house.sum()), 2, 5, 3.0)
    members = acc[in_house]
    ids += [_rows(members, "device", _ids("hh-dev-", hh.max() + 1)[hh]),
            _rows(members, "address", _ids("hh-addr-", hh.max() + 1)[hh])]
    share_card = rng.random(hh.max() + 1) < 0.33
    ids.append(_rows(members[share_card[hh]], "payment", _ids("hh-card-", hh.max() + 1)[hh][
        share_card[hh]]))
    first = pd.Series(members).groupby(hh).transform("first").to_numpy()
    send = members != first
    rels.append(pd.DataFrame({"src_account": members[send], "dst_account": first[send],
                              "kind": "transfer"}))
    # Companies: an org id and an e-mail domain; 30% pay with one corporate card.
    in_co = rng.random(n) < 0.3
    co = _groups(rng, int(in_co.sum()), 5, 80, 1.5)
    staff = acc[in_co]
    email_dom[in_co] = np.char.add(_ids("corp", co.max() + 1)[co].astype(str), ".com")
    ids.append(_rows(staff, "org", _ids("org-", co.max() + 1)[co]))
    corp_card = rng.random(co.max() + 1) < 0.3
    ids.append(_rows(staff[corp_card[co]], "payment",
                     _ids("corp-card-", co.max() + 1)[co][corp_card[co]]))
    ids.append(_rows(acc, "email", np.char.add(np.char.add(acc.astype(str), "@"), email_dom)))
    # Friends refer friends (shallow trees); random transfers between unrelated customers.
    referred = np.flatnonzero(rng.random(n) < 0.15)
    referrer = rng.integers(0, n, len(referred))
    referred, referrer = referred[referrer != referred], referrer[referrer != referred]
    rels.append(pd.DataFrame({"src_account": acc[referrer], "dst_account": acc[referred],
                              "kind": "referral"}))
    m = int(0.4 * n)
    a, b = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = a != b
    rels.append(pd.DataFrame({"src_account": acc[a[keep]], "dst_account": acc[b[keep]],
                              "kind": "transfer"}))
    return accounts, ids, rels


def _rings(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, list[pd.DataFrame],
                                                     list[pd.DataFrame], np.ndarray]:
    acc = _ids("f", n)
    ring = _groups(rng, n, 3, 150, 1.2)
    n_ring = ring.max() + 1
    size = np.bincount(ring)
    # A ring signs up within a few days of its start.
    start = rng.uniform(0, 330, n_ring)
    created = START + ((start[ring] + rng.uniform(0, 4, n)) * DAY).astype("timedelta64[s]")
    accounts = pd.DataFrame({"account_id": acc, "created_at": created,
                             "country": rng.choice(["US", "GB", "DE", "IN", "BR", "FR"], n),
                             "plan": rng.choice(["free", "pro", "team"], n, p=[.3, .65, .05])})
    ids, rels = [], []
    # Pools: about one device per 4 members and one card per 6; each member draws from them,
    # and also keeps values of its own (operators rotate stock, not every value is reused).
    for kind, per, extra in (("device", 4, 0.5), ("payment", 6, 0.5)):
        pool = np.maximum(1, np.ceil(size / per)).astype(int)
        draws = 1 + rng.poisson(0.5, n)
        who = np.repeat(np.arange(n), draws)
        pick = (rng.random(len(who)) * pool[ring[who]]).astype(int)
        value = np.char.add(np.char.add(f"ring-{kind}-", ring[who].astype(str)),
                            np.char.add("-", pick.astype(str))).astype(object)
        ids.append(_rows(acc[who], kind, value))
        ids.append(_own(rng, acc, kind, "f", extra))
    ids.append(_own(rng, acc, "phone", "f", 0.0))
    # Most rings use free-mail; some register a throwaway domain of their own.
    own_domain = rng.random(n_ring) < 0.4
    dom = np.where(own_domain[ring], np.char.add(np.char.add("mail", ring.astype(str)), ".net"),
                   rng.choice(FREEMAIL, n))
    ids.append(_rows(acc, "email", np.char.add(np.char.add(acc.astype(str), "@"), dom)))
    # Referral farming inside the ring; money funnelled to one or two mules per ring.
    head = pd.Series(acc).groupby(ring).transform("first").to_numpy()
    refer = (acc != head) & (rng.random(n) < 0.5)
    rels.append(pd.DataFrame({"src_account": head[refer], "dst_account": acc[refer],
                              "kind": "referral"}))
    mule = pd.Series(acc).groupby(ring).transform("last").to_numpy()
    pay = (acc != mule) & (rng.random(n) < 0.6)
    rels.append(pd.DataFrame({"src_account": acc[pay], "dst_account": mule[pay],
                              "kind": "transfer"}))
    return accounts, ids, rels, ring


def _solo(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    acc = _ids("s", n)
    created = START + (rng.uniform(0, 365, n) * DAY).astype("timedelta64[s]")
    accounts = pd.DataFrame({"account_id": acc, "created_at": created,
                             "country": rng.choice(["US", "GB", "DE", "IN", "BR", "FR"], n),
                             "plan": rng.choice(["free", "pro", "team"], n, p=[.4, .55, .05])})
    ids = [_own(rng, acc, "payment", "s", 1.5), _own(rng, acc, "device", "s", 0.5),
           _rows(acc, "email", np.char.add(np.char.add(acc.astype(str), "@"),
                                           rng.choice(FREEMAIL, n)))]
    return accounts, ids


def _finish(rng: np.random.Generator, accounts: pd.DataFrame, ids: list[pd.DataFrame],
            rels: list[pd.DataFrame], truth: pd.DataFrame, label_rate: float) -> IdentityData:
    # Opaque, shuffled ids so that no method can read the class from the name.
    order = rng.permutation(len(accounts))
    new = pd.Series(_ids("acct", len(accounts))[order], index=accounts["account_id"].to_numpy())
    accounts = accounts.assign(account_id=new[accounts["account_id"]].to_numpy())
    accounts = accounts.sort_values("account_id", ignore_index=True)
    idf = pd.concat(ids, ignore_index=True)
    idf["account_id"] = new[idf["account_id"]].to_numpy()
    idf = idf.drop_duplicates(ignore_index=True)
    # Identifier values are opaque strings too; e-mails keep their (real-looking) domain.
    codes, uniq = pd.factorize(idf["kind"] + ":" + idf["value"].astype(str))
    opaque = pd.Series(np.char.add("v", rng.permutation(len(uniq))[codes].astype(str)))
    email = (idf["kind"] == "email").to_numpy()
    domain = idf["value"].astype(str).str.split("@").str[-1]
    idf["value"] = np.where(email, opaque + "@" + domain, opaque)
    rel = pd.concat(rels, ignore_index=True)
    for col in ("src_account", "dst_account"):
        rel[col] = new[rel[col]].to_numpy()
    rel["ts"] = START + (rng.uniform(0, 365, len(rel)) * DAY).astype("timedelta64[s]")
    rel["amount"] = np.round(rng.lognormal(3.5, 1.0, len(rel)), 2)
    truth = truth.assign(account_id=new[truth["account_id"]].to_numpy())
    labelled = truth["is_fraud"].to_numpy() & (rng.random(len(truth)) < label_rate)
    labels = pd.DataFrame({"account_id": truth["account_id"], "label": labelled.astype(int)})
    return IdentityData(accounts, idf, rel, labels, truth.sort_values("account_id",
                                                                      ignore_index=True))


def generate(n_accounts: int = 20_000, fraud_rate: float = 0.04, solo_share: float = 0.25,
             label_rate: float = 0.85, seed: int = 0) -> IdentityData:
    """Generate the data set: ``n_accounts`` accounts of which ``fraud_rate`` are fraudulent.

    ``solo_share`` of the fraud acts alone; ``label_rate`` of the fraud has a chargeback
    label (the rest is labelled 0, as in real chargeback data).
    """
    rng = np.random.default_rng(seed)
    n_fraud = round(fraud_rate * n_accounts)
    n_solo = round(solo_share * n_fraud)
    n_ring, n_legit = n_fraud - n_solo, n_accounts - n_fraud
    la, lids, lrels = _legit(rng, n_legit)
    fa, fids, frels, ring = _rings(rng, n_ring)
    sa, sids = _solo(rng, n_solo)
    accounts = pd.concat([la, fa, sa], ignore_index=True)
    accounts["created_at"] = pd.to_datetime(accounts["created_at"]).dt.strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    truth = pd.DataFrame({
        "account_id": accounts["account_id"],
        "is_fraud": np.r_[np.zeros(n_legit, bool), np.ones(n_ring + n_solo, bool)],
        "group": np.r_[np.full(n_legit, ""), np.char.add("ring", ring.astype(str)),
                       np.full(n_solo, "solo")]})
    return _finish(rng, accounts, lids + fids + sids, lrels + frels, truth, label_rate)
