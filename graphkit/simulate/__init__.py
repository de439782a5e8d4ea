"""The simulator: a synthetic request log with planted campaigns among legitimate customers."""

from graphkit.simulate.campaigns import CAMPAIGNS
from graphkit.simulate.params import NEW_MODEL, RELEASE_TIME, WINDOW_START
from graphkit.simulate.world import PRESETS, Preset, SimulationResult, simulate

__all__ = ["CAMPAIGNS", "NEW_MODEL", "PRESETS", "RELEASE_TIME", "WINDOW_START", "Preset",
           "SimulationResult", "simulate"]
