"""The package's shape, checked: imports go one way, functions stay short, and the names of
checkpoint files and record statuses each live in one module."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "abyssexp"
MAX_FUNCTION_LINES = 80
#: package → packages it must never import (issue: the training run in plain parts).
FORBIDDEN = {
    "models": {"training", "evaluation", "store", "serving", "cli"},
    "evaluation": {"training", "store", "serving", "cli"},
    # The store carries files only: exports (models, data) are made beside evaluation.
    "store": {"models", "datasets", "augmentation", "evaluation", "training", "serving", "cli"},
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
    "experiment": {"runners", "training", "models", "evaluation", "store", "serving", "cli"},
    # The report reads files only: no TensorFlow anywhere below it.
    "report": {"training", "models", "datasets", "augmentation", "store", "serving", "cli"},
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


def test_one_module_decides_a_metrics_direction() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{line} {word!r}"
        for path, tree in _modules()
        if str(path.relative_to(PACKAGE)) != DIRECTION_HOME
        for line, word in _direction_decisions(tree)
        if (str(path.relative_to(PACKAGE)), word) not in DIRECTION_ALLOWED
    ]
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
