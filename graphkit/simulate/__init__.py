"""The simulator: a synthetic request log with planted campaigns among legitimate customers."""

from graphkit.simulate.world import SimulationResult, simulate

__all__ = ["SimulationResult", "simulate"]
