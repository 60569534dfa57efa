"""Whether a model fits a Space: its memory at inference estimated from its weights, against the
RAM of the Space's hardware (Spaces' free tier unless it suggests more)."""

from __future__ import annotations

from dataclasses import dataclass

from spacerunner.hardware import DEFAULT_FLAVOR, FLAVORS
from spacerunner.scaffold.detect import ModelFacts
from spacerunner.units import format_size

RUNTIME = 1 << 30
"""Python, torch, the library and Gradio around the weights (about 1 GiB on a CPU)."""
WORKING = 1.2
"""The weights plus what inference holds beside them (activations, caches)."""
FLOAT32 = 4
"""Bytes a parameter takes on a CPU, where models run in float32."""


@dataclass(frozen=True)
class Fit:
    needed: int | None
    """Estimated bytes of memory; ``None`` when nothing tells the model's size."""
    limit: int
    flavor: str | None
    """The smallest hardware whose RAM holds it, when the default does not."""

    @property
    def fits(self) -> bool:
        return self.needed is None or self.needed <= self.limit

    def describe(self) -> str:
        if self.needed is None:
            return "size unknown (no weights or sizes found): not checked against the limit"
        size = f"about {format_size(self.needed)} of memory"
        if self.fits:
            return f"{size}: fits the {format_size(self.limit)} of {DEFAULT_FLAVOR}"
        if self.flavor is None:
            return f"{size}: more than any Spaces hardware has"
        return (
            f"{size}: more than the {format_size(self.limit)} of {DEFAULT_FLAVOR}; the header "
            f"suggests {self.flavor} ({format_size(FLAVORS[self.flavor][1])})"
        )


def estimate(facts: ModelFacts) -> int | None:
    weights = facts.weights_bytes
    if weights is None and facts.parameters is not None:
        weights = facts.parameters * FLOAT32
    return None if weights is None else int(weights * WORKING) + RUNTIME


def check_fit(facts: ModelFacts) -> Fit:
    needed = estimate(facts)
    limit = FLAVORS[DEFAULT_FLAVOR][1]
    flavor = None
    if needed is not None and needed > limit:
        # the demo runs on a CPU: CPU hardware first, the smallest that holds it
        larger = sorted(
            (not name.startswith("cpu-"), ram, name)
            for name, (_, ram) in FLAVORS.items()
            if ram >= needed
        )
        flavor = larger[0][2] if larger else None
    return Fit(needed, limit, flavor)
