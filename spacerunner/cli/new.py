"""``spacerunner new NAME`` and ``spacerunner templates``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from spacerunner.config.model import COLORS
from spacerunner.errors import TemplateError

if TYPE_CHECKING:
    from spacerunner.scaffold import Template

DEFAULT_TEMPLATE = "gradio"
_FLAGS = {
    "title": "--title",
    "emoji": "--emoji",
    "color_from": "--color-from",
    "color_to": "--color-to",
    "license": "--license",
    "short_description": "--description",
}


def add_arguments(new: argparse.ArgumentParser, templates: argparse.ArgumentParser) -> None:
    new.add_argument("name", nargs="?", help="the Space's name: its folder and URL (my-demo)")
    new.add_argument("-t", "--template", help=f"what to start from (default {DEFAULT_TEMPLATE})")
    new.add_argument(
        "--model",
        help="build a demo of this model: a Hub id or a local folder (its task is detected)",
    )
    new.add_argument(
        "--task", help="the demo's task, over the detected one (spacerunner templates lists them)"
    )
    new.add_argument("--dir", type=Path, default=Path("spaces"), help="where (default spaces/)")
    new.add_argument("--title")
    new.add_argument("--emoji")
    new.add_argument("--color-from", dest="color_from", choices=COLORS, metavar="COLOR")
    new.add_argument("--color-to", dest="color_to", choices=COLORS, metavar="COLOR")
    new.add_argument("--license", help="license id, e.g. apache-2.0, mit")
    new.add_argument("--description", dest="short_description", help="one line, 60 characters")
    new.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a variable of the template, e.g. --var model=./my-model (repeatable)",
    )
    new.add_argument(
        "--no-input", action="store_true", help="never ask; use the defaults for what is not given"
    )
    for parser in (new, templates):
        parser.add_argument(
            "--templates",
            type=Path,
            action="append",
            default=[],
            metavar="DIR",
            help="a folder of your own templates (also $SPACERUNNER_TEMPLATES)",
        )


def templates_command(args: argparse.Namespace) -> int:
    from spacerunner.scaffold import find_templates

    found = find_templates(args.templates)
    width = max(len(name) for name in found)
    tasks = {n: t for n, t in found.items() if t.task is not None}
    print("Demos of a model (spacerunner new NAME --model MODEL picks one by its task):")
    for name, template in tasks.items():
        where = "" if template.builtin else f"  [{template.path.parent}]"
        print(f"  {name:<{width}}  {template.description}{where}")
    print("\nStarting points (spacerunner new NAME -t TEMPLATE):")
    for name, template in found.items():
        if name not in tasks:
            where = "" if template.builtin else f"  [{template.path.parent}]"
            print(f"  {name:<{width}}  {template.description}{where}")
    return 0


def new_command(args: argparse.Namespace, ask: Callable[[str], str] | None = None) -> int:
    """Scaffold a Space. ``ask`` prompts for what the flags left open (a terminal without
    flags); ``None`` asks only when stdin is a terminal and nothing but the name was given."""
    from spacerunner.scaffold import check_name, find_templates, scaffold

    found = find_templates(args.templates)
    values = {key: getattr(args, key) for key in _FLAGS if getattr(args, key) is not None}
    if args.model is not None:
        return _demo(args, found, values)
    if args.task is not None:
        raise TemplateError("--task goes with --model, e.g. --model ./my-model --task fill-mask")
    for item in args.var:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise TemplateError(f"--var {item!r}: write KEY=VALUE, e.g. --var model=gpt2")
        values[key.strip()] = value
    interactive = ask is not None or (
        not args.no_input and sys.stdin.isatty() and not values and args.template is None
    )
    prompt = ask or input
    name = args.name
    if name is None:
        if not interactive:
            raise TemplateError("spacerunner new needs a NAME, e.g. spacerunner new my-demo")
        name = _ask_until_valid(prompt, "Name (e.g. my-demo): ", check_name)
    check_name(name)
    template_name = args.template
    if template_name is None and interactive:
        for listed, template in found.items():
            print(f"  {listed:<34} {template.description}")
        template_name = prompt(f"Template [{DEFAULT_TEMPLATE}]: ").strip() or None
    template = _template(found, template_name or DEFAULT_TEMPLATE)
    if interactive:
        values |= _ask_values(template, name, values, prompt)
    folder = scaffold(template, name, args.dir, values)
    print(f"created {folder} from the {template.name} template")
    print(f"try it:  spacerunner run {folder}")
    print(f"or with the other Spaces of {args.dir}:  spacerunner serve {args.dir}")
    return 0


def _demo(args: argparse.Namespace, found: dict[str, Template], values: dict[str, str]) -> int:
    from spacerunner.scaffold import check_name
    from spacerunner.scaffold.demo import plan_demo, write_demo

    if args.name is None:
        raise TemplateError("spacerunner new needs a NAME: spacerunner new my-demo --model gpt2")
    if args.template is not None:
        raise TemplateError("--model picks the template from the model's task; drop -t")
    check_name(args.name)
    plan = plan_demo(args.model, found, args.task)
    for line in plan.describe():
        print(line)
    folder = write_demo(plan, args.name, args.dir, values)
    print(f"created {folder} from the {plan.template.name} template")
    print(f"try it:  spacerunner run {folder}")
    return 0


def _template(found: dict[str, Template], name: str) -> Template:
    if name not in found:
        from spacerunner.scaffold.tasks import ALIASES

        if name in ALIASES:  # an earlier name of a task's template
            return found[ALIASES[name].value]
        raise TemplateError(
            f"no template {name!r}; there are {', '.join(found)} "
            "(spacerunner templates lists them, --templates DIR adds yours)"
        )
    return found[name]


def _ask_values(
    template: Template, name: str, given: dict[str, str], prompt: Callable[[str], str]
) -> dict[str, str]:
    from spacerunner.scaffold import defaults_for

    answers: dict[str, str] = {}
    defaults = defaults_for(template, name)
    for variable in template.variables:
        if variable.name in given:
            continue
        default = defaults[variable.name]
        label = variable.name.replace("_", " ").capitalize()
        answer = prompt(f"{label} [{default}]: ").strip()
        if answer:
            answers[variable.name] = answer
    return answers


def _ask_until_valid(prompt: Callable[[str], str], text: str, check: Callable[[str], str]) -> str:
    while True:
        answer = prompt(text).strip()
        try:
            return check(answer)
        except TemplateError as exc:
            print(exc, file=sys.stderr)
