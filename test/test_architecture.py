# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The package's layout rules, checked on the source: layers, cycles, rclpy, sizes.

Folders follow the data: each imports only itself and the folders before it
(`LAYERS`); the tool folders stand on the shared harness and never import one
another; nothing in the library imports `commands`. rclpy is imported at module
level only by the node and the tools. Read with `ast`, so nothing is executed.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
import subprocess
import sys

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "streaming_gcode"
PACKAGE = "streaming_gcode"

# Folders in the order the data flows; a module may import its own folder and earlier ones.
LAYERS: tuple[str, ...] = (
    "core", "ingestion", "model", "inference", "outputs", "node", "recordings", "offline",
    "tools.harness", "tools.*", "commands",
)
# Tool folders: each may use the harness and every earlier layer, never another tool.
ROS_FOLDERS: tuple[str, ...] = ("node", "tools")
ROS_MODULES: tuple[str, ...] = ("rclpy",)
TOP_LEVEL_MODULES_MAX = 5
MODULE_LINES_MAX = 400
LOCAL_IMPORTS_MAX = 12
ENTRY_MODULES: tuple[str, ...] = ("cli", "node_entry")   # entry points: above every layer


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE_ROOT.rglob("*.py"))}
TREES: dict[str, ast.Module] = {
    name: ast.parse(path.read_text(encoding="utf-8"), str(path)) for name, path in MODULES.items()
}


def _folder(module: str) -> str:
    """Return the folder of a module: `tools.demo` for tools/demo/view.py, `core` for core/x.py."""
    parts = module.split(".")[1:]
    if not parts:
        return ""
    if parts[0] == "tools" and len(parts) > 1 and f"{PACKAGE}.tools.{parts[1]}" in _packages():
        return f"tools.{parts[1]}"
    return parts[0]


def _packages() -> set[str]:
    return {name for name, path in MODULES.items() if path.name == "__init__.py"}


def _layer(module: str) -> int:
    """Return the index of the module's folder in `LAYERS` (entry points above all)."""
    folder = _folder(module)
    if folder in ENTRY_MODULES or folder == "":
        return len(LAYERS)
    if folder.startswith("tools.") and folder != "tools.harness":
        return LAYERS.index("tools.*")
    if folder == "tools":
        return LAYERS.index("tools.harness")
    return LAYERS.index(folder)


def _resolve(node: ast.ImportFrom, module: str) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if MODULES[module].name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, *, module_level: bool) -> list[tuple[str, int]]:
    """List (imported module, line) at module level or inside functions."""
    tree = TREES[module]
    found: list[tuple[str, int]] = []
    function_nodes = {
        id(inner) for func in ast.walk(tree)
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
        for inner in ast.walk(func) if inner is not func
    }
    for node in ast.walk(tree):
        if (id(node) in function_nodes) == module_level:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, module)
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.append((candidate if candidate in MODULES else target, node.lineno))
    return found


def _own(imports: list[tuple[str, int]]) -> list[tuple[str, int]]:
    return [(name, line) for name, line in imports
            if name == PACKAGE or name.startswith(PACKAGE + ".")]


def _graph() -> dict[str, set[str]]:
    """Return module-level import edges between the package's modules (and their packages)."""
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        for target, _ in _own(_imports(name, module_level=True)):
            if target in MODULES and target != name:
                edges[name].add(target)
            parent = target.rsplit(".", 1)[0]
            while parent.startswith(PACKAGE + "."):
                if parent in MODULES and parent != name and not name.startswith(parent + "."):
                    edges[name].add(parent)
                parent = parent.rsplit(".", 1)[0]
    return edges


def test_every_module_imports_only_its_own_folder_and_earlier_ones() -> None:
    problems = []
    for name in MODULES:
        own_layer, own_folder = _layer(name), _folder(name)
        for imported in (False, True):
            for target, line in _own(_imports(name, module_level=imported)):
                if target == PACKAGE:
                    continue
                folder = _folder(target)
                if _layer(target) > own_layer:
                    problems.append(f"{name}:{line} imports later folder {target}")
                elif (folder.startswith("tools.") and folder != "tools.harness"
                      and own_folder.startswith("tools.") and folder != own_folder):
                    problems.append(f"{name}:{line} imports another tool {target}")
                elif folder == "commands" and own_folder == "commands" and target != name:
                    if not target.endswith(".commands") and name != f"{PACKAGE}.commands":
                        problems.append(f"{name}:{line} imports another command {target}")
    assert not problems, "\n".join(problems)


def test_no_import_cycle() -> None:
    edges = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for target in sorted(edges[name]):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(MODULES):
        if name not in state:
            cycle = visit(name)
            assert cycle is None, " -> ".join(cycle)


def _imports_ros(name: str) -> list[tuple[str, int]]:
    return [(target, line) for target, line in _imports(name, module_level=True)
            if target.split(".")[0] in ROS_MODULES]


def test_rclpy_is_imported_at_module_level_only_by_the_node_and_the_tools() -> None:
    edges = _graph()
    offenders = []
    for name in MODULES:
        if _folder(name).split(".")[0] in ROS_FOLDERS or _folder(name) in ENTRY_MODULES:
            continue
        seen, todo = {name}, [name]
        while todo:
            current = todo.pop()
            for target, line in _imports_ros(current):
                offenders.append(f"{name} -> {current}:{line} imports {target}")
            for target in edges[current] - seen:
                seen.add(target)
                todo.append(target)
    assert not offenders, "\n".join(offenders)


def test_at_most_five_modules_at_the_top_of_the_package() -> None:
    top = sorted(p.name for p in PACKAGE_ROOT.glob("*.py"))
    assert len(top) <= TOP_LEVEL_MODULES_MAX, top


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_at_most_400_lines(name: str) -> None:
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MODULE_LINES_MAX, f"{MODULES[name]}: {lines} lines"


def test_function_local_imports_of_own_code_are_few_and_say_why() -> None:
    local: list[tuple[str, bool]] = []
    for name, path in MODULES.items():
        if name == f"{PACKAGE}.cli" or name.startswith(f"{PACKAGE}.commands"):
            continue
        source = path.read_text(encoding="utf-8").splitlines()
        for target, line in sorted(set(_own(_imports(name, module_level=False)))):
            if any(where.startswith(f"{path.relative_to(PACKAGE_ROOT)}:{line} ")
                   for where, _ in local):
                continue  # one statement importing several names
            text = source[line - 1]
            context = " ".join(source[max(0, line - 3):line])
            local.append((f"{path.relative_to(PACKAGE_ROOT)}:{line} {target}", "#" in context
                          or "#" in text))
    unexplained = [where for where, explained in local if not explained]
    assert not unexplained, "function-local imports without a comment saying why:\n" + \
        "\n".join(unexplained)
    assert len(local) <= LOCAL_IMPORTS_MAX, "\n".join(where for where, _ in local)


def _exported(tree: ast.Module) -> bool:
    """Tell whether a module assigns `__all__` (alone or with `__getattr__`)."""
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                if any(isinstance(n, ast.Name) and n.id == "__all__" for n in names):
                    return True
    return False


@pytest.mark.parametrize("name", sorted(_packages()))
def test_every_folder_says_what_it_is_for_and_exports_its_names(name: str) -> None:
    tree = TREES[name]
    docstring = ast.get_docstring(tree)
    assert docstring and len(docstring.splitlines()) >= 3, f"{name}: no docstring"
    if name in (PACKAGE, f"{PACKAGE}.commands"):
        return
    assert _exported(tree), f"{name}: no __all__"
    package = importlib.import_module(name)
    for exported in package.__all__:
        assert hasattr(package, exported) or importlib.import_module(f"{name}.{exported}"), \
            f"{name}.__all__ names {exported!r}, which it cannot give"


def test_light_modules_do_not_load_torch_or_rclpy() -> None:
    """A folder's public names are loaded on use, so its light modules stay light."""
    probe = ("import sys; import streaming_gcode.core.package, streaming_gcode.model.gcode, "
             "streaming_gcode.core.stream_layout; "
             "print(sorted(m for m in ('torch', 'rclpy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "[]"
