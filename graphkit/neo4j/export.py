"""Export a detection result to Neo4j over Bolt, for investigators to explore in Neo4j Browser.

The pieces: :mod:`graphkit.neo4j.selection` cuts the chosen communities out of a detection
output directory, :mod:`graphkit.neo4j.credentials` opens the driver,
:mod:`graphkit.neo4j.bolt` applies the schema and writes (with the Cypher text of
:mod:`graphkit.neo4j.cypher`); :func:`export_to_neo4j` runs them in that order.

The model (docs/neo4j.md)::

    (:Account)-[:USED_IP]->(:IP)-[:OPERATED_BY]->(:ProxyProvider)
    (:Account)-[:PAID_WITH]->(:PaymentMethod)   (:Account)-[:SENT]->(:PromptTemplate)
    (:Account)-[:USED_AGENT]->(:UserAgent)      (:Account)-[:CALLED]->(:Model)
    (:Account)-[:SIMILAR_TO]->(:Account)        (:Account)-[:MEMBER_OF]->(:Community)
    (:Account)-[:SUCCEEDED_BY]->(:Account)      (a banned account -> its replacement)

Writes are idempotent (what exists is found, by key for nodes and by ends for relationships,
and updated; the rest is created), batched as ``UNWIND`` over columns, and every relationship
carries the detection's ``run_id``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from graphkit.errors import ConfigError, ExportError
from graphkit.neo4j.auth import mask_secrets, mask_uri
from graphkit.neo4j.bolt import apply_schema, clear_previous, cypher_error_types, write_selection
from graphkit.neo4j.credentials import open_driver
from graphkit.neo4j.selection import Selection, select
from graphkit.progress import Progress, quiet


@dataclass
class ExportReport:
    """What an export wrote: rows per label / relationship type, and how long it took."""

    uri: str
    run_id: str
    community_ids: list[int]
    nodes: dict[str, int]
    relationships: dict[str, int]
    seconds: float
    replaced: bool = False

    @property
    def n_elements(self) -> int:
        return sum(self.nodes.values()) + sum(self.relationships.values())

    def summary(self) -> str:
        parts = ", ".join(f"{v:,} {k}" for k, v in {**self.nodes, **self.relationships}.items()
                          if v)
        rate = self.n_elements / self.seconds if self.seconds > 0 else float("nan")
        return (f"exported {len(self.community_ids)} communities of run {self.run_id} to "
                f"{self.uri}: {parts} ({self.n_elements:,} elements in {self.seconds:.1f}s, "
                f"{rate:,.0f}/s)")


def export_to_neo4j(
    result_dir: str | os.PathLike[str],
    uri: str | None = None,
    *,
    user: str | None = None,
    password: str | None = None,
    communities: str | Sequence[int] = "top:20",
    min_suspicion: float | None = None,
    replace: bool = False,
    batch_size: int = 10_000,
    database: str | None = None,
    progress: Progress | None = None,
    ask_credentials: Callable[[], tuple[str, str]] | None = None,
) -> ExportReport:
    """Export the chosen communities of a detection output to a Neo4j database over Bolt.

    Selects the communities (:func:`graphkit.neo4j.selection.select`), connects, creates
    graphkit's constraints and indexes, optionally removes earlier exports, then writes nodes
    and relationships in batches of ``UNWIND`` over columns, one transaction per batch.
    Idempotent: exporting the same run again updates what exists and creates nothing twice.

    Parameters
    ----------
    result_dir : str or path-like
        A ``graphkit detect`` output directory (manifest.json, accounts.csv, communities.csv,
        links.csv, graph/).
    uri : str, optional
        The server, ``bolt://``, ``neo4j://`` or their ``+s`` / ``+ssc`` forms. Default: the
        ``NEO4J_URI`` environment variable.
    user, password : str, optional
        Credentials; default :func:`graphkit.neo4j.auth.credentials` (``NEO4J_USER`` /
        ``NEO4J_PASSWORD``, else the password ``graphkit neo4j start`` generated, for a server
        on this machine). Without any the connection is unauthenticated.
    communities : str or sequence of int, default "top:20"
        ``"top:N"`` (by suspicion, then size), ``"flagged"``, ``"all"`` or community ids.
    min_suspicion : float, optional
        Keep only chosen communities with at least this suspicion.
    replace : bool, default False
        First remove what earlier exports wrote (their relationships, Community nodes and
        graphkit nodes left without relationships).
    batch_size : int, default 10000
        Rows per transaction.
    database : str, optional
        Target database; default the server's default database.
    progress : Progress, optional
        Reports each step; default quiet.
    ask_credentials : callable, optional
        Called for ``(user, password)`` when the server demands credentials none were given
        for (the CLI prompts).

    Returns
    -------
    ExportReport
        Rows written per label and relationship type, the run id, the chosen community ids
        and the time the writes took.

    Raises
    ------
    ConfigError
        No URI, a URI of another scheme, an invalid community selection or ``batch_size < 1``.
    ExportError
        A missing or unreadable detection output, no community matching the selection, a
        server that cannot be reached or refuses the credentials, or a failed write.

    See Also
    --------
    graphkit.neo4j.bulk.write_import_csvs : the same selection as neo4j-admin import CSVs.

    Notes
    -----
    Labels and relationship types come from :mod:`graphkit.registry`; values only travel as
    query parameters. One export at a time per database (see :mod:`graphkit.neo4j.bolt`).

    References
    ----------
    .. [1] Neo4j, "Cypher manual: UNWIND" and "Performance: batch data with UNWIND",
       https://neo4j.com/docs/cypher-manual/current/clauses/unwind/

    Examples
    --------
    With a detection output in ``out/`` and a server running (``graphkit neo4j start``)::

        report = export_to_neo4j("out/", "bolt://127.0.0.1:7687", communities="top:5")
        report.nodes["Account"], report.relationships["MEMBER_OF"]  # -> (212, 212)
        print(report.summary())
    """
    uri = uri or os.environ.get("NEO4J_URI")
    if not uri:
        raise ConfigError("no Neo4j URI (pass --neo4j-uri or set NEO4J_URI)")
    progress = progress or quiet()
    with progress.step("export: select"):
        selection = select(result_dir, communities, min_suspicion)
    started = time.perf_counter()
    driver = open_driver(uri, user, password, ask_credentials=ask_credentials)
    try:
        _write(driver, selection, replace=replace, batch_size=batch_size, database=database,
               progress=progress)
    except cypher_error_types() as exc:
        detail = mask_secrets(str(getattr(exc, "message", None) or exc), uri)
        raise ExportError(f"export to {mask_uri(uri)} failed: {type(exc).__name__}: "
                          f"{detail}") from exc
    finally:
        driver.close()
    nodes, rels = selection.counts()
    return ExportReport(uri=mask_uri(uri), run_id=selection.run_id, community_ids=selection.community_ids,
                        nodes=nodes, relationships=rels,
                        seconds=time.perf_counter() - started, replaced=replace)


def _write(driver: object, selection: Selection, *, replace: bool, batch_size: int,
           database: str | None, progress: Progress) -> None:
    """Schema, then (with ``replace``) the removal of earlier exports, then the selection."""
    with progress.step("export: schema"):
        apply_schema(driver, database, selection.registry)
    if replace:
        with progress.step("export: replace"):
            clear_previous(driver, database, selection.registry)
    write_selection(driver, selection, batch_size=batch_size, database=database,
                    progress=progress)


__all__ = ["ExportReport", "Selection", "export_to_neo4j", "select"]
