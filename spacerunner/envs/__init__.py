"""Per-Space Python environments: isolated, content-addressed, cached, built with uv."""

from spacerunner.envs.builder import EnvBuilder, Environment
from spacerunner.envs.spec import EnvMode, EnvSpec, environment_needed, spec_for

__all__ = ["EnvBuilder", "EnvMode", "EnvSpec", "Environment", "environment_needed", "spec_for"]
