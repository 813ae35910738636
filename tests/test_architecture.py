"""The package's shape, checked: imports go one way, functions stay short, and the names of
checkpoint files and record statuses each live in one module."""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Collection
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "abyssexp"
MAX_FUNCTION_LINES = 80
#: package → packages it must never import (issue: the training run in plain parts).
FORBIDDEN = {
    "models": {"training", "evaluation", "store", "serving", "cli"},
    "evaluation": {"training", "store", "serving", "cli", "results", "sweeps", "integrations"},
    # The store carries files only: exports (models, data) are made beside evaluation.
    "store": {
        "models",
        "datasets",
        "augmentation",
        "evaluation",
        "training",
        "serving",
        "cli",
        "runners",
        "sweeps",
        "results",
        "integrations",
    },
    "augmentation": {"models", "training", "evaluation", "store", "experiment", "serving"},
    # The seed's generators receive an augmenter; resizing is the data floor's (STYLE.md).
    "datasets": {
        "augmentation",
        "models",
        "training",
        "evaluation",
        "store",
        "experiment",
        "serving",
    },
    "schemas": {"datasets", "augmentation", "models", "training", "evaluation", "store", "serving"},
    # Runs are processes or Slurm jobs: nothing that builds a model.
    "runners": {"models", "evaluation", "store", "report", "serving", "cli"},
    # The convention (layout, names, records, checkpoints, a test result's caveats and digest):
    # everything else builds on it, so it imports none of the jobs built on it.
    "experiment": {
        "runners",
        "training",
        "models",
        "evaluation",
        "store",
        "serving",
        "cli",
        "sweeps",
        "results",
        "integrations",
        "report",
    },
    # Sweeps plan and study; the runners run their slots and training trains their trials.
    "sweeps": {"runners", "training", "models", "evaluation", "store", "serving", "cli", "results"},
    # Results read across experiments (compare, seed groups, paired tests, winners): files only.
    "results": {"training", "runners", "models", "store", "serving", "cli", "report"},
    # Mirrors into other tools read the files and results; nothing that trains or evaluates.
    "integrations": {"training", "runners", "models", "evaluation", "store", "serving", "cli"},
    # The report reads files only: no TensorFlow anywhere below it.
    "report": {
        "training",
        "models",
        "datasets",
        "augmentation",
        "store",
        "serving",
        "cli",
        "integrations",
    },
    # Serving answers with a model promoted (store) and read as predict reads it (evaluation):
    # it never trains, runs jobs or writes reports.
    "serving": {"training", "runners", "report", "cli"},
    "training": {"serving"},
}
#: (module, package) imports allowed despite ``FORBIDDEN``, each only inside a function (lazy):
#: the seed's ``from abyssexp.datasets import augmentation_gen`` keeps working.
LAZY_REEXPORTS = {("datasets/__init__.py", "augmentation")}


@functools.cache
def _modules() -> tuple[tuple[Path, ast.Module], ...]:
    """Every module of the package, parsed once per test process (the checks only read the
    trees; parsing ~180 files for each test made this file ~12 s)."""
    return tuple((path, ast.parse(path.read_text())) for path in sorted(PACKAGE.rglob("*.py")))


@functools.cache
def _walk(tree: ast.AST) -> tuple[ast.AST, ...]:
    """Every node below ``tree``, walked once per tree (each check walks the whole package)."""
    return tuple(ast.walk(tree))


def _package_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_packages(tree: ast.Module, top_level_only: bool = False) -> set[str]:
    found = set()
    nodes = tree.body if top_level_only else _walk(tree)
    for node in nodes:
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "abyssexp" and len(parts) > 1:
                found.add(parts[1])
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path, tree in _modules():
        source = _package_of(path)
        relative = str(path.relative_to(PACKAGE))
        allowed = {target for module, target in LAZY_REEXPORTS if module == relative}
        graph.setdefault(source, set()).update(_imported_packages(tree) - {source} - allowed)
    return graph


def test_lazy_reexports_stay_lazy() -> None:
    for module, target in LAZY_REEXPORTS:
        tree = ast.parse((PACKAGE / module).read_text())
        assert target not in _imported_packages(tree, top_level_only=True), module


def test_forbidden_imports() -> None:
    graph = package_graph()
    wrong = {
        f"{source} imports {target}"
        for source, banned in FORBIDDEN.items()
        for target in graph.get(source, set()) & banned
    }
    assert not wrong, sorted(wrong)


def test_no_import_cycle_between_core_packages() -> None:
    graph = {k: v - {"cli", "__main__"} for k, v in package_graph().items() if k != "cli"}
    seen: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        seen[node] = "active"
        for nxt in sorted(graph.get(node, set())):
            if seen.get(nxt) == "active":
                raise AssertionError("import cycle: " + " -> ".join([*trail, node, nxt]))
            if nxt not in seen:
                visit(nxt, [*trail, node])
        seen[node] = "done"

    for node in sorted(graph):
        if node not in seen:
            visit(node, [])


def test_nothing_imports_the_cli() -> None:
    graph = package_graph()
    assert {k for k, v in graph.items() if "cli" in v} <= {"cli", "__main__"}


def test_no_function_is_too_long() -> None:
    long = []
    for path, tree in _modules():
        for node in _walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.name} ({lines} lines)")
    assert not long, long


def _string_constants(tree: ast.Module) -> set[str]:
    return {
        n.value for n in _walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_checkpoint_file_names_live_in_one_module() -> None:
    home = PACKAGE / "experiment" / "checkpoints.py"
    names = {"best.keras", "recovery.keras", "model_", "model_*", "model_*.keras", "model_*.*"}
    elsewhere = [
        f"{path.relative_to(PACKAGE)}: {sorted(_string_constants(tree) & names)}"
        for path, tree in _modules()
        if path != home and _string_constants(tree) & names
    ]
    assert not elsewhere, elsewhere


def test_record_statuses_live_in_one_module() -> None:
    from abyssexp.schemas.record import Status

    home = PACKAGE / "schemas" / "record.py"
    # "new" is also the name of a command and of a provenance section: not checked.
    statuses = {s.value for s in Status} - {"new"}
    allowed = {("cli/app.py", "interrupted")}  # the one-line message on Ctrl-C
    elsewhere = []
    for path, tree in _modules():
        if path == home:
            continue
        for value in sorted(_string_constants(tree) & statuses):
            if (str(path.relative_to(PACKAGE)), value) not in allowed:
                elsewhere.append(f"{path.relative_to(PACKAGE)}: {value!r}")
    assert not elsewhere, elsewhere


def test_the_training_run_module_stays_small() -> None:
    # The lock, the status transitions and fit; everything else has a module of its own.
    lines = (PACKAGE / "training" / "run.py").read_text().count("\n")
    assert lines < 300, f"training/run.py has {lines} lines"


def _runtime_imports(module: str, tree: ast.Module) -> set[str]:
    """Modules of the package that ``module`` imports when it runs (``TYPE_CHECKING`` blocks
    left out; imports inside functions included: they run too)."""
    skipped = {
        id(inner)
        for node in _walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }
    package = module.rsplit(".", 1)[0]
    found = set()
    for node in _walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if not node.level else f"{package}.{node.module}"
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def module_graph() -> dict[str, set[str]]:
    names = {}
    for path, tree in _modules():
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = tree
    return {
        name: {m for m in _runtime_imports(name, tree) if m in names and m != name}
        for name, tree in names.items()
    }


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_no_import_circle_inside_a_package() -> None:
    # Typer's command registration is the one circle allowed: ``cli.app`` imports the command
    # modules so that each registers its commands on the ``app`` it imports.
    circles = [
        c
        for c in import_circles(module_graph())
        if not (all(m.split(".")[:2] == ["abyssexp", "cli"] for m in c) and "abyssexp.cli.app" in c)
    ]
    assert not circles, [" <-> ".join(c) for c in circles]


def test_only_open_store_asks_which_backend() -> None:
    # One place picks the backend by the root's scheme (store/backend.py); everything else
    # calls the backend it was given (docs/architecture.md: adding a third backend).
    allowed = {"store/backend.py"}
    found = []
    for path, tree in _modules():
        for node in _walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "isinstance"
                and len(node.args) == 2
                and "StoreURL" in ast.unparse(node.args[1])
                and str(path.relative_to(PACKAGE)) not in allowed
            ):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not found, found


#: Parameters that carry the core contracts; each has its real type (``TYPE_CHECKING`` imports keep
#: the CLI fast), never ``Any`` (issue 23: typed contracts).
TYPED_PARAMETERS = {
    "params",
    "dataset_params",
    "label_space",
    "space",
    "table",
    "class_table",
    "options",
    "plan",
    "record",
    # The same contracts under the names they go by elsewhere (LabelSpace, ExperimentPaths,
    # SweepLocation).
    "labels",
    "paths",
    "location",
}
#: (module, function, parameter) allowed to stay ``Any``, each with the reason. None today.
ANY_ALLOWED: dict[tuple[str, str, str], str] = {}


def _is_any(annotation: ast.expr | None) -> bool:
    """``Any`` itself, or a union with ``Any`` in it (``Any | None``): the type says nothing."""
    if annotation is None:
        return False
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return _is_any(annotation.left) or _is_any(annotation.right)
    return ast.unparse(annotation) in ("Any", "typing.Any", "Optional[Any]")


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    arguments = node.args
    extra = [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
    return [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, *extra]


def test_core_parameters_are_typed() -> None:
    untyped = []
    for path, tree in _modules():
        module = str(path.relative_to(PACKAGE))
        for node in _walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for argument in _parameters(node):
                key = (module, node.name, argument.arg)
                if (
                    argument.arg in TYPED_PARAMETERS
                    and _is_any(argument.annotation)
                    and key not in ANY_ALLOWED
                ):
                    untyped.append(f"{module}:{node.lineno} {node.name}({argument.arg}: Any)")
    assert not untyped, untyped


def test_the_typed_parameter_check_sees_any() -> None:
    # The check above passes vacuously if it cannot see ``Any``: it must flag these.
    source = "def f(params: Any, plan: Any | None, table: typing.Any, record: Record): ..."
    function = ast.parse(source).body[0]
    assert isinstance(function, ast.FunctionDef)
    flagged = [a.arg for a in _parameters(function) if _is_any(a.annotation)]
    assert flagged == ["params", "plan", "table"]


#: Words that decide a metric's direction, and the module that may use them to (issue 32).
DIRECTION_WORDS = {"loss", "error", "minimize", "maximize"}
DIRECTION_HOME = "metric_direction.py"
#: (module, word) uses of these words that decide nothing, each with its reason.
DIRECTION_ALLOWED = {
    ("cli/progress.py", "loss"): "whether the epoch's logs hold a loss to print",
    ("experiment/provenance.py", "error"): "whether a git probe's result holds an exception",
}


def _direction_decisions(tree: ast.Module) -> list[tuple[int, str]]:
    """``"loss" in name``, ``name.endswith("error")``, ``== "minimize"`` and the bare words
    ``minimize``/``maximize``: the ways a module can decide a direction on its own."""
    found = []
    for node in _walk(tree):
        words: list[ast.expr] = []
        if isinstance(node, ast.Compare):
            words = [node.left, *node.comparators]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("endswith", "startswith", "find", "count", "index"):
                words = list(node.args)
        elif isinstance(node, ast.Constant) and node.value in ("minimize", "maximize"):
            found.append((node.lineno, str(node.value)))
        for word in words:
            if isinstance(word, ast.Constant) and word.value in DIRECTION_WORDS:
                found.append((node.lineno, str(word.value)))
    return found


def _outside_home(
    home: str, finder: Callable[[ast.AST], list[tuple[int, str]]], allowed: Collection = ()
) -> list[str]:
    """``path:line what`` for each thing ``finder`` sees in a module other than ``home``, but
    the ``(path, what)`` pairs ``allowed``: the one check behind every one-home rule."""
    return [
        f"{relative}:{line} {what}"
        for path, tree in _modules()
        if (relative := str(path.relative_to(PACKAGE))) != home
        for line, what in finder(tree)
        if (relative, what) not in allowed
    ]


def test_one_module_decides_a_metrics_direction() -> None:
    found = _outside_home(DIRECTION_HOME, _direction_decisions, DIRECTION_ALLOWED)
    assert not found, found


def test_the_direction_check_sees_the_old_rules() -> None:
    # The copies this replaced (summary_file, callbacks, optuna_sweep): each must be flagged.
    source = (
        'a = "loss" in metric or "error" in metric\n'
        'b = "minimize" if "loss" in metric else "maximize"\n'
        'c = name.endswith("loss")\n'
    )
    words = [word for _, word in _direction_decisions(ast.parse(source))]
    assert sorted(words) == ["error", "loss", "loss", "loss", "maximize", "minimize"]


def test_only_integrations_talk_to_other_tools() -> None:
    """The report's "no network" holds: MLflow's client and HTTP clients are imported only in
    ``integrations/`` (and ``serving/``, an HTTP server; the store's object backend goes through
    fsspec)."""
    network = ("mlflow", "http.client", "urllib.request", "requests", "httpx", "urllib3", "boto")
    allowed = {"integrations", "serving", "cli"}
    found = []
    for path, tree in _modules():
        if _package_of(path) in allowed:
            continue
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            found += [
                f"{path.relative_to(PACKAGE)}: {name}"
                for name in names
                if any(name == n or name.startswith(n + ".") for n in network)
            ]
    assert not found, found


#: Modules that may parse JSON themselves (``json.load``/``json.loads``), with why. Every file
#: abyssexp writes is read through its schema in ``schemas/`` (``schemas/files.py`` and
#: ``jsonio``: bounded, then validated); the rest are readers of their own file or parse text
#: that is not a file (issue 32). The list only shrinks.
JSON_PARSERS: dict[str, str] = {
    "jsonio.py": "the bounded parse under every reader",
    "literals.py": "a --set value typed on the command line, not a file",
    "models/export.py": "Keras's model.to_json() string, not a file",
    "experiment/record_file.py": "record.json's one reader (schemas/record.py)",
    "experiment/checkpoints.py": "train_state.json's one reader (schemas/train_state.py)",
    "experiment/list_rows.py": "params.json raw for listings (read_params_dict, bounded)",
    "store/registry.py": "registry.json's one reader (parse_registry)",
    "experiment/index.py": ".index.json's reader (schemas/index.py); the params base it holds",
}


def _json_parses(tree: ast.Module) -> list[int]:
    """Lines that call ``json.loads``/``json.load`` (or either imported bare)."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and ast.unparse(node.func) in ("json.loads", "json.load", "loads", "load")
    ]


def test_files_are_read_through_their_schemas() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{line}"
        for path, tree in _modules()
        if str(path.relative_to(PACKAGE)) not in JSON_PARSERS
        for line in _json_parses(tree)
    ]
    assert not found, found
    stale = [
        module
        for module in JSON_PARSERS
        if not _json_parses(ast.parse((PACKAGE / module).read_text()))
    ]
    assert not stale, f"allowed but parse no JSON any more (remove them): {stale}"


def test_the_json_check_sees_raw_reads() -> None:
    source = "a = json.loads(path.read_text())\nb = json.load(handle)\nc = loads(raw)\n"
    assert _json_parses(ast.parse(source)) == [1, 2, 3]


#: Process liveness has one home (issue 32): the identity (host, pid, start time) and whether its
#: owner is gone are decided in processes.py, which alone reads /proc/<pid>/stat, sends signal 0
#: or asks the host's name; debris, temporaries, claims and records call ``owner_state``.
LIVENESS_HOME = "processes.py"


def _liveness_decisions(tree: ast.Module) -> list[tuple[int, str]]:
    """``def process_start``/``pid_alive``/``owner_state``, ``gethostname()``, ``os.kill(x, 0)``
    and ``/proc/`` paths: the ways a module can answer "is it gone?" on its own."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in (
            "process_start",
            "pid_alive",
            "owner_state",
            "same_process",
        ):
            found.append((node.lineno, f"def {node.name}"))
        elif isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name.endswith("gethostname"):
                found.append((node.lineno, name))
            elif name == "os.kill" and len(node.args) == 2 and ast.unparse(node.args[1]) == "0":
                found.append((node.lineno, "os.kill(pid, 0)"))
        elif isinstance(node, ast.Constant) and "/proc/" in str(node.value):
            found.append((node.lineno, "/proc/"))
    return found


#: (module, what) that decide nothing about liveness, each with its reason.
LIVENESS_ALLOWED = {
    # A remote claim's state (live/stale/other host) maps processes.owner_state's answer.
    ("store/remote_claims.py", "def owner_state"): "translates processes.owner_state",
}


def test_one_module_says_whether_a_process_is_gone() -> None:
    found = _outside_home(LIVENESS_HOME, _liveness_decisions, LIVENESS_ALLOWED)
    assert not found, found


def test_the_liveness_check_sees_the_old_copies() -> None:
    # The copies this replaced (remote_claims.process_start, temporaries' hostname test).
    source = (
        "def process_start(pid):\n"
        '    return open(f"/proc/{pid}/stat")\n'
        "a = host == socket.gethostname()\n"
        "os.kill(pid, 0)\n"
    )
    whats = [what for _, what in _liveness_decisions(ast.parse(source))]
    assert sorted(whats) == ["/proc/", "def process_start", "os.kill(pid, 0)", "socket.gethostname"]


#: Path ownership has one checker (``owned.check_inside``: an explicit owner) and one symlink
#: walk (``owned._refuse_links``); ``check_path`` is check_inside with the registered root as the
#: owner (issue 32).
SYMLINK_WALK = ("owned.py", "_refuse_links")


def _symlink_walks(tree: ast.Module) -> list[str]:
    """Functions with a loop over a path's ``parts`` that tests each step for a symlink."""
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for loop in ast.walk(function):
            if not isinstance(loop, ast.For) or "parts" not in ast.unparse(loop.iter):
                continue
            calls = {ast.unparse(c.func) for c in ast.walk(loop) if isinstance(c, ast.Call)}
            if any(c.endswith(("is_symlink", "islink")) for c in calls):
                found.append(function.name)
                break
    return found


def test_one_symlink_walk_and_one_ownership_checker() -> None:
    walks = [
        (str(path.relative_to(PACKAGE)), name)
        for path, tree in _modules()
        for name in _symlink_walks(tree)
    ]
    assert walks == [SYMLINK_WALK], walks
    owned = ast.parse((PACKAGE / "owned.py").read_text())
    check_path = next(
        n for n in ast.walk(owned) if isinstance(n, ast.FunctionDef) and n.name == "check_path"
    )
    calls = {ast.unparse(c.func) for c in ast.walk(check_path) if isinstance(c, ast.Call)}
    assert "check_inside" in calls and "_refuse_links" not in calls


def test_the_walk_check_sees_the_old_copy() -> None:
    # check_inside's own walk, which this replaced.
    source = (
        "def check_inside(path, owner):\n"
        "    for part in relative.parts:\n"
        "        current = current / part\n"
        "        if current.is_symlink():\n"
        "            raise OutsideOwnedFolderError(current)\n"
    )
    assert _symlink_walks(ast.parse(source)) == ["check_inside"]


#: history.csv has one parser (issue 32): experiment/history.py reads every CSV abyssexp reads
#: back, and only layout.py names the file.
HISTORY_PARSER = "experiment/history.py"


def _csv_readers(tree: ast.Module) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and ast.unparse(node.func) in ("csv.reader", "csv.DictReader", "reader", "DictReader")
    ]


def test_one_module_parses_history_csv() -> None:
    readers = [
        f"{path.relative_to(PACKAGE)}:{line}"
        for path, tree in _modules()
        if str(path.relative_to(PACKAGE)) != HISTORY_PARSER
        for line in _csv_readers(tree)
    ]
    assert not readers, readers
    named = [
        str(path.relative_to(PACKAGE))
        for path, tree in _modules()
        if "history.csv" in _string_constants(tree)
    ]
    assert named == ["experiment/layout.py"], named


def test_the_history_check_sees_the_old_parsers() -> None:
    # callbacks.read_history and optuna_sweep.best_value read rows with DictReader.
    source = "rows = list(csv.DictReader(handle))\nreader = csv.reader(io.StringIO(text))\n"
    assert sorted(_csv_readers(ast.parse(source))) == [1, 2]


#: "Which experiments" has one home (issue 32): sweeps/selection.py turns REFS, patterns,
#: ``--all`` and ``--sweep`` into folders for gc, mlflow sync, compare, list --sweep, winners and
#: the runners. Walking the scratch tree or a sweep's trials to select is done only there.
SELECTION_HOME = "sweeps/selection.py"
#: (module, call) that select nothing, each with its reason.
SELECTION_ALLOWED = {
    ("experiment/list_rows.py", "iter_experiment_dirs"): "defines it; `list` walks a type",
    (
        "experiment/gc.py",
        "iter_experiment_dirs",
    ): "gc --all walks each project, skipping a linked one",
    ("sweeps/optuna_search.py", "trial_roots"): "pairs each trial with its folder",
    ("runners/optuna_slots.py", "trial_roots"): "pairs each trial with its folder",
    (
        "results/compare.py",
        "matching_folders",
    ): "the same matcher, as text for the index (20,000 rows make no Path)",
}


def _selections(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func).rsplit(".", 1)[-1]
            if name in ("iter_experiment_dirs", "trial_roots", "matching_folders"):
                found.append((node.lineno, name))
    return found


def test_one_module_selects_experiments() -> None:
    found = _outside_home(SELECTION_HOME, _selections, SELECTION_ALLOWED)
    assert not found, found


def test_one_matcher_of_experiment_patterns() -> None:
    # compare and sweeps/selection each parsed PROJECT/TYPE[/NAME] patterns once (issue 32, D3).
    texts = [
        str(path.relative_to(PACKAGE))
        for path, _ in _modules()
        if "expected PROJECT/TYPE[/NAME]" in path.read_text()
    ]
    assert texts == ["experiment/list_rows.py"], texts


#: Typer's and Click's private API (issue 32, item 5): each use listed with why; the list only
#: shrinks, and is empty. Help is drawn by Click's formatter (``rich_markup_mode=None``); the
#: usage error is reached through ``typer.BadParameter`` (``cli/app.py``).
PRIVATE_CLI_API: dict[tuple[str, str], str] = {}


def _private_cli_uses(tree: ast.Module) -> list[str]:
    """Attributes of Typer/Click that start with ``_`` (``_main_shell_completion``,
    ``_custom_shell_complete``), anything of ``typer.rich_utils``, and imports from Typer's
    private modules (``typer._click``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr in ("_main_shell_completion", "_custom_shell_complete"):
                found.append(node.attr)
            elif ast.unparse(node.value) == "rich_utils":
                found.append(f"rich_utils.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("typer._"):
            found.append(node.module or "")
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("typer._")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").endswith("rich_utils"):
            found.append(node.module or "")
        elif isinstance(node, ast.ImportFrom) and any(a.name == "rich_utils" for a in node.names):
            found.append("rich_utils")
    return found


def test_no_private_typer_or_click_api() -> None:
    found = sorted(
        {
            (str(path.relative_to(PACKAGE)), use)
            for path, tree in _modules()
            for use in _private_cli_uses(tree)
        }
        - set(PRIVATE_CLI_API)
    )
    assert not found, found


def test_the_usage_error_caught_is_the_one_typer_raises() -> None:
    """``cli/app.py`` finds Click's ``UsageError`` through ``typer.BadParameter``; it must be
    the class Typer's parser raises for a missing option as well as a bad value."""
    import typer
    from typer.testing import CliRunner

    from abyssexp.cli.app import UsageError

    probe = typer.Typer()

    @probe.command()
    def needs(count: int = typer.Option(...)) -> None:  # pragma: no cover - never runs
        pass

    for args in ([], ["--count", "x"]):
        result = CliRunner().invoke(probe, args, standalone_mode=False)
        assert isinstance(result.exception, UsageError), repr(result.exception)


#: A file's bytes are made durable in one place (``atomic.flush``, the suite's switch with it).
FLUSH_HOME = "atomic.py"


def _flushes(tree: ast.AST) -> list[tuple[int, str]]:
    """``os.fsync(...)`` and ``os.sync()`` calls in ``tree``."""
    return [
        (node.lineno, f"os.{node.func.attr}")
        for node in _walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("fsync", "sync", "fdatasync")
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "os"
    ]


def test_one_module_flushes_files_to_disk() -> None:
    found = _outside_home(FLUSH_HOME, _flushes)
    assert not found, f"use abyssexp.atomic.flush / fsync_dir / deferred_sync: {found}"


def test_the_flush_check_sees_a_direct_fsync() -> None:
    source = "os.fsync(handle.fileno())\nos.sync()\nhandle.flush()\n"
    assert [what for _, what in _flushes(ast.parse(source))] == ["os.fsync", "os.sync"]


#: Processes for per-image work start in one place (``worker_pool``: workers that exit with
#: their parent and leave Ctrl-C to it).
POOL_HOME = "worker_pool.py"


def _process_pools(tree: ast.AST) -> list[tuple[int, str]]:
    return [
        (node.lineno, ast.unparse(node.func))
        for node in _walk(tree)
        if isinstance(node, ast.Call)
        and ast.unparse(node.func).rpartition(".")[2] in ("ProcessPoolExecutor", "Pool")
    ]


def test_one_module_starts_process_pools() -> None:
    found = _outside_home(POOL_HOME, _process_pools)
    assert not found, f"use abyssexp.worker_pool.map_in_processes: {found}"


def test_the_pool_check_sees_a_bare_pool() -> None:
    source = "with ProcessPoolExecutor(2) as p:\n    pass\nmultiprocessing.Pool(2)\n"
    found = sorted(what for _, what in _process_pools(ast.parse(source)))
    assert found == ["ProcessPoolExecutor", "multiprocessing.Pool"]
