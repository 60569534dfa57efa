"""Does the current interpreter already satisfy a Space? (the ``auto`` environment mode)"""

from __future__ import annotations

import importlib.metadata

from packaging.requirements import InvalidRequirement, Requirement

from spacerunner.envs.spec import EnvSpec, _normalize


def unmet(spec: EnvSpec) -> list[str]:
    """Requirements the running interpreter does not meet; options and URLs count as unmet."""
    lines = [spec.sdk_requirement] if spec.sdk_requirement else []
    lines += _normalize(spec.pre_requirements) + _normalize(spec.requirements)
    problems = []
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            problems.append(line)  # -r, --extra-index-url, a URL...: only an install can tell
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        if requirement.url:
            problems.append(line)
            continue
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(line)
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            problems.append(f"{line} (installed: {installed})")
    return problems
