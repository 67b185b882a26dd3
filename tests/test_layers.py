"""The layering, checked: bot -> model <- training, and swiftai (settings, logs) under both.

`model` is a library: it imports neither `bot`, `training` nor `swiftai` (no settings, no
environment); `bot` runs training as a subprocess and never imports it; `swiftai` imports no
package above it. Every import counts, including those inside functions.
"""

import ast

import pytest

from tests.conftest import ROOT

FORBIDDEN = {"model": {"bot", "training", "swiftai"}, "bot": {"training"},
             "swiftai": {"bot", "training"}}


def imported(path) -> set[str]:
    """Return the top-level packages a module imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


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
