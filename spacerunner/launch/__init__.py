"""From a Space's configuration to a launch plan a backend can run."""

from spacerunner.launch.plan import ContainerPlan, HttpProbe, LaunchPlan, ProcessPlan, StaticPlan
from spacerunner.launch.sdks import LaunchOptions, build_plan

__all__ = [
    "ContainerPlan",
    "HttpProbe",
    "LaunchOptions",
    "LaunchPlan",
    "ProcessPlan",
    "StaticPlan",
    "build_plan",
]
