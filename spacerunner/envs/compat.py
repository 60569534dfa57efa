"""Compatibility pins for old SDK versions.

An old Gradio or Streamlit, resolved today, gets today's versions of its dependencies, and some
of those dropped what it uses. Spaces' own images pinned a working stack for each SDK version;
this table does the same, as constraints on the build. Each row was reproduced here: the failure
without it, a working app with it (tests/envs/test_compat.py). A package the Space pins itself
in its requirements (a version or a URL; a bare name is not a pin) is left to the Space;
``--no-compat`` turns the table off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from spacerunner.config.model import Sdk


@dataclass(frozen=True)
class CompatRow:
    sdk: Sdk
    below: str
    """Applies to SDK versions below this one."""
    constraints: tuple[str, ...]
    why: str


TABLE: tuple[CompatRow, ...] = (
    CompatRow(
        Sdk.GRADIO,
        "5",
        ("huggingface_hub<1", "fastapi<0.116", "pydantic<2.11"),
        "Gradio 4 imports HfFolder (gone in huggingface_hub 1.0), calls Starlette's old "
        "TemplateResponse(name, context) (gone in Starlette 1.0, which fastapi 0.116+ allows), "
        "and its API schema code fails on pydantic 2.11 ('argument of type bool is not "
        "iterable') as soon as an app has a State, JSON or Chatbot",
    ),
    CompatRow(
        Sdk.STREAMLIT,
        "1.23",
        ("altair<5",),
        "Streamlit before 1.23 imports altair.vegalite.v4, which altair 5 removed",
    ),
    CompatRow(
        Sdk.STREAMLIT,
        "1.36",
        ("numpy<2", "pyarrow<17"),
        "Streamlit before 1.36 needs numpy 1.x, and today's pyarrow refuses to import with it",
    ),
)


def constraints_for(sdk: Sdk, sdk_version: str | None, requirements: str = "") -> tuple[str, ...]:
    """The constraints of Spaces' images and of the table's rows for ``sdk`` at
    ``sdk_version``, minus packages the Space pins itself."""
    if sdk not in (Sdk.GRADIO, Sdk.STREAMLIT):
        return ()
    try:
        version = Version(sdk_version) if sdk_version else None
    except InvalidVersion:
        version = None
    rows = [row for row in TABLE if row.sdk is sdk and version and version < Version(row.below)]
    own = _named(requirements)
    wanted = [*IMAGE_CONSTRAINTS, *(c for row in rows for c in row.constraints)]
    return tuple(c for c in wanted if _name(c) not in own)


def _name(requirement: str) -> str:
    return canonicalize_name(Requirement(requirement).name)


def _named(requirements: str) -> set[str]:
    """The packages ``requirements`` pins itself: with a version specifier or a direct URL.
    A bare name (``numpy``) asks for the package, not for a version: it keeps the table's
    constraint (lifting it would let today's release in, which is what the table prevents)."""
    names = set()
    for line in requirements.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.specifier or requirement.url:
            names.add(canonicalize_name(requirement.name))
    return names


IMAGE_PACKAGES = ("pip", "setuptools", "wheel")
"""What Spaces' Python images hold beside the SDK (a bare environment built today has none):
old apps import ``pkg_resources`` (setuptools) or run pip."""

IMAGE_CONSTRAINTS = ("setuptools<81",)
"""setuptools 81 removed ``pkg_resources``, which the setuptools of Spaces' Python images has
and old apps and libraries import; a Space that pins setuptools itself keeps its pin."""


def companions(sdk: Sdk, sdk_version: str | None) -> tuple[str, ...]:
    """Packages Spaces' images hold beside the SDK: pip, setuptools and wheel; and for Gradio 5
    and later ``spaces``, whose reloader Gradio starts whenever ``SYSTEM=spaces`` (without it,
    every app logs a RuntimeError traceback at start)."""
    if sdk not in (Sdk.GRADIO, Sdk.STREAMLIT):
        return ()
    try:
        old_gradio = sdk is Sdk.GRADIO and sdk_version and Version(sdk_version) < Version("5")
    except InvalidVersion:
        old_gradio = True
    return IMAGE_PACKAGES if sdk is Sdk.STREAMLIT or old_gradio else (*IMAGE_PACKAGES, "spaces")
