"""The layering, checked: bot -> model <- training, swiftai (settings, logs) under both, and no
import cycle between any two modules.

`model` is a library: it imports neither `bot`, `training` nor `swiftai` (no settings, no
environment); `bot` runs training as a subprocess and never imports it; `swiftai` imports no
package above it. Every import counts, including those inside functions and under
`if TYPE_CHECKING:`: a cycle hidden by a late import is still two modules that need each other.
"""

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

FORBIDDEN = {"model": {"bot", "training", "swiftai"}, "bot": {"training"},
             "swiftai": {"bot", "training"}}
PACKAGES = ("bot", "model", "training", "swiftai")
# Inside bot: storage <- service <- app <- chat, web; chat and web never import each other.
ROOMS_ABOVE = {"storage": {"service", "app", "chat", "web"}, "service": {"app", "chat", "web"},
               "app": {"chat", "web"}, "chat": {"web"}, "web": {"chat"}}
KNOWN_CYCLES: list[tuple[str, str]] = []  # none: every cycle fails the test


def imported(path) -> set[str]:
    """Return the top-level packages a module imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def module_name(path: Path, root: Path) -> str:
    """Return the dotted name of a module file (a package's __init__ is the package)."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """Return the modules among `modules` that a module imports anywhere in its file, relative
    imports resolved: `from a.b import c` is a.b.c when that is a module, else a.b."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return (found & modules) - {name}


def import_graph(root: Path) -> dict[str, set[str]]:
    """Map each module of our packages under `root` to the modules of ours it imports."""
    files = {module_name(path, root): path
             for package in PACKAGES for path in (root / package).rglob("*.py")}
    return {name: module_imports(path, name, set(files)) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Return the groups of modules that import each other, directly or around a loop (the
    strongly connected components of two or more), each sorted, in order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[tuple[str, ...]] = []

    def visit(name: str) -> None:  # Tarjan's algorithm
        index[name] = low[name] = len(index)
        stack.append(name)
        for other in sorted(graph[name]):
            if other not in index:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == name:
                    break
            if len(group) > 1:
                groups.append(tuple(sorted(group)))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(groups)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_above_it(package):
    crossings = sorted(f"{path.relative_to(ROOT)} imports {name}"
                       for path in (ROOT / package).rglob("*.py")
                       for name in imported(path) & FORBIDDEN[package])
    assert crossings == []


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from training.runs import x\n    import bot.app\n")
    assert imported(module) == {"training", "bot"}


def room(module: str) -> str:
    """Return the room of a bot module: bot.chat.cogs.lyrics -> chat, bot.app -> app."""
    return module.split(".")[1] if module.count(".") else module


def test_the_bot_rooms_import_nothing_above_them():
    graph = {name: imports for name, imports in import_graph(ROOT).items()
             if name.startswith("bot.")}
    crossings = sorted(f"{name} imports {other}" for name, imports in graph.items()
                       for other in imports
                       if other.startswith("bot.")
                       and room(other) in ROOMS_ABOVE.get(room(name), ()))
    assert crossings == []


def test_no_two_modules_import_each_other():
    assert cycles(import_graph(ROOT)) == KNOWN_CYCLES


def test_the_cycle_check_sees_late_type_only_and_relative_imports(tmp_path):
    (tmp_path / "bot" / "chat").mkdir(parents=True)
    for package in PACKAGES[1:]:
        (tmp_path / package).mkdir()
    (tmp_path / "bot" / "__init__.py").write_text("")
    (tmp_path / "bot" / "chat" / "__init__.py").write_text("")
    (tmp_path / "bot" / "app.py").write_text("def open():\n    from bot.chat import link\n")
    (tmp_path / "bot" / "chat" / "link.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .client import Bot\n")
    (tmp_path / "bot" / "chat" / "client.py").write_text("from ..app import App\n")
    (tmp_path / "bot" / "errors.py").write_text("import bot.app\n")  # imports, but is not imported
    assert cycles(import_graph(tmp_path)) == [("bot.app", "bot.chat.client", "bot.chat.link")]
