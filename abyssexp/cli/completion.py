"""Shell completion of the names people type most: experiment references, ``@aliases``, sweep
ids, test conditions of the experiment already on the line, and ``--set`` keys with their
current values.

Everything here reads folder listings and small JSON files: no TensorFlow, no record parsing
for thousands of experiments (5,000 experiments complete in milliseconds). ``COMPLETERS`` is
the one table that says which parameter completes what; ``install_completers`` gives each such
parameter Typer's documented ``shell_complete`` callback when the CLI is registered, and Click
calls it when the shell asks (``_ABYSSEXP_COMPLETE=complete_bash|complete_zsh``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from typer.core import CompletionItem  # Typer's own Click: the class its shells format

Completer = Callable[[Any, str], list[CompletionItem]]
HELP_LIMIT = 50  # matches described with their status (one record read each) at most


def _scratch(ctx: Any) -> Path:
    from abyssexp.cli.options import scratch_root

    return scratch_root(_param(ctx, "scratch"))


def _param(ctx: Any, name: str) -> Any:
    """A value already on the command line (this command's, or its parents')."""
    while ctx is not None:
        if ctx.params.get(name) is not None:
            return ctx.params[name]
        ctx = ctx.parent
    return None


def _dirs(folder: Path) -> Iterator[str]:
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                    yield entry.name
    except OSError:
        return


def _types(scratch: Path) -> Iterator[str]:
    for project in sorted(_dirs(scratch)):
        for experiment_type in sorted(_dirs(scratch / project)):
            yield f"{project}/{experiment_type}"


def _status(folder: Path) -> str | None:
    """The status (and note) beside a name, read through the record's one reader."""
    from abyssexp.errors import printable
    from abyssexp.experiment.record_file import load_record

    loaded = load_record(folder / "record.json")
    if loaded.record is None:
        return None
    note = " ".join(printable(loaded.record.note or "").split())
    return loaded.record.status.value + (f": {note}" if note else "")


def complete_experiments(ctx: Any, incomplete: str) -> list[CompletionItem]:
    """``PROJECT/TYPE/`` first, then ``PROJECT/TYPE/NNN.name`` (a number prefix matches too)."""
    if incomplete.startswith(("/", ".", "~")):
        return []  # a folder path: the shell's own file completion
    scratch = _scratch(ctx)
    parts = incomplete.split("/")
    if len(parts) < 3:
        return [
            CompletionItem(f"{location}/", help="project/type")
            for location in _types(scratch)
            if location.startswith(incomplete)
        ]
    location, wanted = "/".join(parts[:2]), parts[2]
    names = sorted(n for n in _dirs(scratch / location) if _matches(n, wanted))
    describe = len(names) <= HELP_LIMIT
    return [
        CompletionItem(
            f"{location}/{name}",
            help=_status(scratch / location / name) if describe else None,
        )
        for name in names
    ]


def _matches(name: str, wanted: str) -> bool:
    if name.startswith(wanted):
        return True
    number = name.split(".", 1)[0]
    return wanted.isdigit() and number.isdigit() and str(int(number)).startswith(wanted)


def complete_aliases(ctx: Any, incomplete: str) -> list[CompletionItem]:
    """``PROJECT/TYPE@ALIAS`` from the store's registry (a folder store; an object store is
    not asked over the network while a person waits)."""
    from abyssexp.cli.options import store_root

    try:
        store = store_root(_param(ctx, "store"))
        if not isinstance(store, Path):  # an object store: not asked while a person waits
            return []
        from abyssexp.store.registry import read_registry

        data = read_registry(store)  # validated, aliases included
    except Exception:  # noqa: BLE001 - no store, an object store, or an unreadable registry
        return []
    items = []
    for location, aliases in sorted((data.get("aliases") or {}).items()):
        for alias, name in sorted(aliases.items()):
            value = f"{location}@{alias}"
            if value.startswith(incomplete):
                items.append(CompletionItem(value, help=name))
    return items


def complete_models(ctx: Any, incomplete: str) -> list[CompletionItem]:
    """What ``export`` and ``predict`` take: an experiment or an alias."""
    return complete_aliases(ctx, incomplete) + complete_experiments(ctx, incomplete)


def complete_sweeps(ctx: Any, incomplete: str) -> list[CompletionItem]:
    """``PROJECT/TYPE/sNNN`` of every sweep under the scratch root."""
    scratch = _scratch(ctx)
    items = []
    for location in _types(scratch):
        try:
            files = sorted(os.listdir(scratch / location / ".sweeps"))
        except OSError:
            continue
        for file_name in files:
            if file_name.startswith("s") and file_name.endswith(".json"):
                value = f"{location}/{file_name.removesuffix('.json')}"
                if value.startswith(incomplete):
                    items.append(CompletionItem(value, help="sweep"))
    return items


def complete_experiments_and_sweeps(ctx: Any, incomplete: str) -> list[CompletionItem]:
    return complete_experiments(ctx, incomplete) + complete_sweeps(ctx, incomplete)


def _words() -> list[str]:
    """The command line being completed, as the shell handed it over."""
    import shlex

    line = os.environ.get("COMP_WORDS") or os.environ.get("_TYPER_COMPLETE_ARGS") or ""
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


def _first_argument(ctx: Any) -> str | None:
    """The command's first argument on the raw line. Click parses nothing when the line ends
    in an option still waiting for its value (``test REF --condition``), so read it here."""
    words = _words()
    if ctx.info_name not in words:
        return None
    takes_value = {
        opt for p in ctx.command.params if not getattr(p, "is_flag", False) for opt in p.opts
    }
    rest = words[words.index(ctx.info_name) + 1 :]
    skip = False
    for word in rest[:-1] if rest and not rest[-1].startswith("-") else rest:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = word in takes_value
        else:
            return word
    return None


def _referenced(ctx: Any) -> Path | None:
    """The folder of the experiment already on the line (``REF``, or the first of ``REFS``)."""
    ref = _param(ctx, "ref") or _param(ctx, "from_ref")
    refs = _param(ctx, "refs")
    if ref is None and refs:
        ref = refs[0]
    ref = ref or _first_argument(ctx)
    if not ref:
        return None
    from abyssexp.errors import AbyssExpError
    from abyssexp.experiment.refs import resolve_ref

    try:
        return resolve_ref(str(ref), _scratch(ctx)).root
    except AbyssExpError:
        return None


def _conditions(ctx: Any) -> list[str]:
    root = _referenced(ctx)
    return sorted(_dirs(root / "testing")) if root else []


def complete_conditions(ctx: Any, incomplete: str) -> list[CompletionItem]:
    """Test conditions of the experiment on the line (``test REF --condition``)."""
    return [
        CompletionItem(c, help="tested already")
        for c in _conditions(ctx)
        if c.startswith(incomplete)
    ]


TEST_METRICS = ("accuracy", "macro_f1", "mAP")


def complete_metrics(ctx: Any, incomplete: str) -> list[CompletionItem]:
    """``compare --metric``: validation metrics and ``CONDITION:metric`` of the experiments."""
    values = ["val_accuracy", "val_loss", "val_macro_f1"]
    values += [f"{c}:{m}" for c in _conditions(ctx) for m in TEST_METRICS]
    return [CompletionItem(v) for v in values if v.startswith(incomplete)]


def complete_requirements(ctx: Any, incomplete: str) -> list[CompletionItem]:
    """``promote --require CONDITION:METRIC>=``: the conditions this experiment was tested on."""
    values = [f"{c}:{m}>=" for c in _conditions(ctx) for m in TEST_METRICS]
    return [CompletionItem(v) for v in values if v.startswith(incomplete)]


def _param_keys() -> dict[str, Any]:
    """Every ``section.field`` of params.json with its default."""
    from pydantic import BaseModel

    from abyssexp.schemas.params import Params

    keys: dict[str, Any] = {}

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{prefix}{name}.")
            elif prefix:
                default = (
                    None if field.is_required() else field.get_default(call_default_factory=True)
                )
                keys[f"{prefix}{name}"] = default

    walk(Params, "")
    return keys


def _current_params(ctx: Any) -> dict[str, Any] | None:
    root = _referenced(ctx)
    if root is None:
        return None
    from abyssexp.experiment.list_rows import read_params_dict

    return read_params_dict(root) or None  # bounded; {} when missing or broken


def _lookup(data: dict[str, Any], key: str) -> tuple[bool, Any]:
    value: Any = data
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def complete_set_keys(ctx: Any, incomplete: str) -> list[CompletionItem]:
    """``--set section.field=``: keys from the params schema; the description is the value in
    the experiment on the line (else the default). After ``KEY=``, that value itself."""
    keys = _param_keys()
    current = _current_params(ctx)
    if "=" in incomplete:
        key = incomplete.split("=", 1)[0]
        if key not in keys:
            return []
        found, value = _lookup(current, key) if current else (False, None)
        value = value if found else keys[key]
        return [CompletionItem(f"{key}={json.dumps(value, default=str)}")]
    items = []
    for key, default in keys.items():
        if not key.startswith(incomplete):
            continue
        found, value = _lookup(current, key) if current else (False, None)
        help_text = f"now {_shown(value)}" if found else f"default {_shown(default)}"
        items.append(CompletionItem(f"{key}=", help=help_text))
    return items


#: Parameter name -> what it completes; (command, parameter) pairs override the name alone.
COMPLETERS: dict[str, Completer] = {
    "ref": complete_experiments,
    "refs": complete_experiments_and_sweeps,
    "compare": complete_experiments,  # report --compare
    "from_ref": complete_experiments,
    "source": complete_models,
    "sweep": complete_sweeps,
    "set_": complete_set_keys,
    "condition": complete_conditions,
    "metric": complete_metrics,
    "require": complete_requirements,
}
NOT_COMPLETED = {("fold", "source")}  # sweep fold SOURCE is a COCO file: the shell's files


def install_completers(typer_app: Any) -> None:
    """Give every parameter named in ``COMPLETERS``, of every command of ``typer_app`` (its
    groups' too), Typer's documented ``shell_complete`` callback, before Typer builds the
    Click commands (``cli.app``); a parameter that declares its own completion keeps it."""
    for info in typer_app.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")
        _complete_parameters(name, info.callback)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            install_completers(group.typer_instance)


def _complete_parameters(command: str, callback: Callable[..., Any]) -> None:
    """Set ``shell_complete`` on the ``typer.Option``/``typer.Argument`` of ``callback``'s
    parameters that ``COMPLETERS`` names (read from its annotations or defaults)."""
    import inspect

    names = [n for n in inspect.signature(callback).parameters if n in COMPLETERS]
    names = [n for n in names if (command, n) not in NOT_COMPLETED]
    if not names:
        return
    # Evaluated as Typer evaluates them (a command's own ``__signature__`` included).
    parameters = inspect.signature(callback, eval_str=True).parameters
    for name in names:
        annotation, default = parameters[name].annotation, parameters[name].default
        for info in (*getattr(annotation, "__metadata__", ()), default):
            if hasattr(info, "shell_complete") and info.shell_complete is None:
                if getattr(info, "autocompletion", None) is None:
                    info.shell_complete = _adapted(COMPLETERS[name])
        # The evaluated annotation replaces its text (``from __future__ import annotations``):
        # evaluated again, the text would make a new typer.Option, without the completer.
        callback.__annotations__[name] = annotation


def _adapted(completer: Completer) -> Callable[[Any, Any, str], list[CompletionItem]]:
    def complete(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
        try:
            return completer(ctx, incomplete)
        except Exception:  # noqa: BLE001 - completion must never print a traceback at a prompt
            return []

    return complete
