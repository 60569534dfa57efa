"""Policy over backends: when Spaces start, sleep, restart and fail, for a folder of Spaces."""

from spacerunner.supervisor.policy import Policy
from spacerunner.supervisor.space import ManagedSpace, SpaceState
from spacerunner.supervisor.supervisor import Supervisor

__all__ = ["ManagedSpace", "Policy", "SpaceState", "Supervisor"]
