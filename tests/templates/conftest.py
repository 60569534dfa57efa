"""What the template tests share: one environment cache for the model templates and the demos
built from models, so each library's environment is built once per run."""

from __future__ import annotations

import pytest

from spacerunner.envs import EnvBuilder


@pytest.fixture(scope="session")
def builder(tmp_path_factory: pytest.TempPathFactory) -> EnvBuilder:
    return EnvBuilder(tmp_path_factory.mktemp("model-envs"))
