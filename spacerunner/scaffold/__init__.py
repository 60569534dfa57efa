"""New Spaces from templates: ``spacerunner new`` and ``spacerunner templates``."""

from spacerunner.scaffold.create import check_name, scaffold
from spacerunner.scaffold.templates import COMMON, Template, Variable, find_templates

__all__ = ["COMMON", "Template", "Variable", "check_name", "find_templates", "scaffold"]
