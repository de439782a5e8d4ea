"""Execution engines: the stage SQL defined once (:mod:`graphkit.engine.stages`), run by DuckDB
on one machine or by Spark on a cluster (:mod:`graphkit.engine.spark`)."""

from graphkit.engine.stages import Stage, stages, transpile

ENGINES: tuple[str, ...] = ("duckdb", "spark")

__all__ = ["ENGINES", "Stage", "stages", "transpile"]
