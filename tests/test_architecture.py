"""The floors of ARCHITECTURE.md, enforced: a vitlearn module imports only rooms on lower floors
(and its own room), read from the source with ``ast``, lazy imports inside functions included."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vitlearn"

# Top to bottom, as ARCHITECTURE.md draws them. A room is a module or a package directly under vitlearn/.
FLOORS: list[set[str]] = [
    {"cli", "book", "figures", "train_command", "run_chapters", "publish"},  # chapters and the command line
    {"classroom"},
    {"checks", "viz", "anatomy"},
    {"distill"},  # DeiT: it trains a teacher, then a student, with train's loop
    {"train"},
    {"model", "interpret"},
    {"encoder"},
    {"attention", "tokens", "patches", "data", "errata", "measure"},  # the references and their helpers
    {"_validate", "__init__"},  # validation; `import vitlearn` (its version) is open to all
]
FLOOR = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}


def _room(module: str) -> str:
    """``vitlearn.viz.style`` -> ``viz``; ``vitlearn`` itself -> ``__init__``; ``python -m vitlearn`` is the CLI."""
    parts = module.split(".")
    room = parts[1] if len(parts) > 1 else "__init__"
    return "cli" if room == "__main__" else room


def _imported_modules(tree: ast.AST) -> set[str]:
    """Every ``vitlearn`` module the source imports, ``from vitlearn import viz`` as ``vitlearn.viz``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "vitlearn")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "vitlearn":
                found.update(f"vitlearn.{alias.name}" for alias in node.names)
            elif node.module.startswith("vitlearn."):
                found.add(node.module)
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_each_module_imports_only_rooms_on_lower_floors(path):
    importer = _room(".".join(path.relative_to(ROOT).with_suffix("").parts))
    assert importer in FLOOR, f"vitlearn's room {importer!r} is on no floor: add it to ARCHITECTURE.md and FLOORS"
    for module in sorted(_imported_modules(ast.parse(path.read_text(encoding="utf-8")))):
        room = _room(module)
        assert room in FLOOR, f"{path.name} imports {module}, whose room is on no floor"
        assert room == importer or FLOOR[room] > FLOOR[importer], (
            f"{path.relative_to(ROOT)} (floor {FLOOR[importer]}) imports {module} (floor {FLOOR[room]}): "
            "a room may import only from the floors below it")


def test_architecture_md_names_every_room():
    named = set(re.findall(r"`(\w+)`", (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")))
    assert FLOOR.keys() - {"__init__"} <= named
