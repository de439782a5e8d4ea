"""The simulator: a synthetic request log with planted campaigns among legitimate customers."""

from graphkit.simulate.campaigns import CAMPAIGNS
from graphkit.simulate.params import NEW_MODEL, RELEASE_TIME, WINDOW_START
from graphkit.simulate.world import SimulationResult, simulate

__all__ = ["CAMPAIGNS", "NEW_MODEL", "RELEASE_TIME", "WINDOW_START", "SimulationResult",
           "simulate"]
