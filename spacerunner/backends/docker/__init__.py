"""The Docker backend: Spaces as containers, through the ``docker`` SDK."""

from spacerunner.backends.docker.backend import DockerBackend, DockerInstance
from spacerunner.backends.docker.engine import connect

__all__ = ["DockerBackend", "DockerInstance", "connect"]
