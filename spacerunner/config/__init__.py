"""A Space's configuration: its README.md header, read into typed values."""

from spacerunner.config.model import COLORS, OAuth, Sdk, SpaceConfig, default_app_file
from spacerunner.config.parse import load_space

__all__ = ["COLORS", "OAuth", "Sdk", "SpaceConfig", "default_app_file", "load_space"]
