"""Build hook: ship templates/ as spacerunner/_templates in regular wheels only.

A force-include in an editable wheel would create a real ``spacerunner/`` folder in
site-packages that shadows the checkout's package; editable installs read ``templates/``.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class TemplatesHook(BuildHookInterface):  # type: ignore[misc]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "standard":
            build_data["force_include"]["templates"] = "spacerunner/_templates"
