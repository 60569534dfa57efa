"""New Spaces from templates: ``spacerunner new`` and ``spacerunner templates``."""

from spacerunner.scaffold.create import check_name, defaults_for, scaffold
from spacerunner.scaffold.templates import COMMON, Template, Variable, find_templates

__all__ = [
    "COMMON",
    "Template",
    "Variable",
    "check_name",
    "defaults_for",
    "find_templates",
    "scaffold",
]
