"""From a model to a demo Space: read the model, pick its task's template, check its size, write
the Space (``spacerunner new NAME --model MODEL``).

A local model folder is copied into the Space as ``model/`` (an isolated app sees only its own
folder, as on Spaces), and the header's ``models`` names it; a Hub id is named as it is and
downloaded by the app on its first start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spacerunner.errors import ModelError
from spacerunner.scaffold.create import scaffold
from spacerunner.scaffold.detect import Detection, ModelFacts, detect, read_folder, read_hub
from spacerunner.scaffold.fit import Fit, check_fit
from spacerunner.scaffold.tasks import TASKS, Task
from spacerunner.scaffold.templates import Template

LOCAL_MODEL = "model"
"""Where a local model is copied inside the Space."""


@dataclass(frozen=True)
class DemoPlan:
    facts: ModelFacts
    detection: Detection
    fit: Fit
    template: Template
    local: Path | None
    """The model's folder, when it is one (copied into the Space)."""

    @property
    def model_ref(self) -> str:
        """What the header's ``models`` names: the copy in the Space, or the Hub id."""
        return f"./{LOCAL_MODEL}" if self.local is not None else self.facts.source

    def describe(self) -> list[str]:
        lines = [
            f"model: {self.facts.source}"
            + (" (a local folder, copied into the Space)" if self.local else " (the Hub)"),
            f"task: {self.detection.task.value}, from {self.detection.why}",
        ]
        if self.detection.others:
            others = ", ".join(t.value for t in self.detection.others)
            lines.append(f"  it could also serve: {others} (pick one with --task)")
        lines.append(f"template: {self.template.name}, {self.template.description}")
        lines.append(f"memory: {self.fit.describe()}")
        if self.examples:
            lines.append(f"examples: {len(self.examples)} from the model card")
        return lines

    @property
    def examples(self) -> tuple[str, ...]:
        return self.facts.examples if TASKS[self.detection.task].card_examples else ()


def read_model(model: str, task: str | None = None) -> tuple[ModelFacts, Path | None]:
    """The facts of ``model``: a folder when one exists there, else a Hub id (which need not be
    reachable when ``task`` is given)."""
    path = Path(model).expanduser()
    if path.exists() or model.startswith((".", "/", "~")):
        return read_folder(path), path.resolve()
    return read_hub(model, required=task is None), None


def plan_demo(model: str, templates: Mapping[str, Template], task: str | None = None) -> DemoPlan:
    facts, local = read_model(model, task)
    detection = detect(facts, task)
    template = template_for(detection.task, templates)
    return DemoPlan(facts, detection, check_fit(facts), template, local)


def template_for(task: Task, templates: Mapping[str, Template]) -> Template:
    for template in templates.values():
        if template.task is task:
            return template
    raise ModelError(
        f"no template makes a {task.value} demo. Fix: reinstall spacerunner (its templates "
        "hold one per task), or add one with task = ... (--templates DIR)."
    )


def write_demo(
    plan: DemoPlan, name: str, dest: Path, values: Mapping[str, str] | None = None
) -> Path:
    """Scaffold the demo of ``plan`` as ``dest/name``."""
    header: dict[str, Any] = {}
    if plan.fit.flavor is not None:
        header["suggested_hardware"] = plan.fit.flavor
    files: dict[str, Path | str] = {}
    if plan.local is not None:
        files[LOCAL_MODEL] = plan.local
    if plan.examples:
        files["examples.json"] = json.dumps(list(plan.examples), ensure_ascii=False, indent=1)
    given = {"model": plan.model_ref, **(values or {})}
    return scaffold(plan.template, name, dest, given, header=header, files=files)
