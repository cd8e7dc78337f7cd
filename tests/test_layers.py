"""The layers hold: upstream <- settings <- render <- components <- `__main__.py`, render registers
nothing, and no import cycle anywhere."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

from settings import outputs
from tools.harness import PROJECT_DIR, StackRun, run_stack

PACKAGES = ("upstream", "settings", "render", "components", "functions", "tools")


def test_the_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def cycles(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    """Pairs (a, b): a imports b, and b leads back to a."""
    return [
        (a, b) for a in sorted(graph.modules) for b in sorted(graph.find_modules_directly_imported_by(a))
        if a != b and graph.chain_exists(importer=b, imported=a)
    ]


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert cycles(graph) == []
    graph.add_import(importer="settings.types", imported="settings.stack")  # the knot the old settings had
    assert ("settings.types", "settings.stack") in cycles(graph)


def test_main_composes_and_imports_no_tool() -> None:
    tree = ast.parse((PROJECT_DIR / "__main__.py").read_text())
    imported = {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported <= {"pulumi", "components", "render", "settings", "functions"}


SDK = ("pulumi", "pulumi_kubernetes", "pulumi_command", "pulumi_random")


def sdk_importers(graph: grimp.ImportGraph, package: str) -> list[tuple[str, str]]:
    """(module of `package`, SDK module) for each direct import of the Pulumi SDK."""
    return [
        (m, i) for m in sorted(graph.find_descendants(package) | {package})
        for i in sorted(graph.find_modules_directly_imported_by(m)) if i.split(".")[0] in SDK
    ]


def test_render_registers_nothing() -> None:
    """The render layer builds data: no module of it imports the Pulumi SDK or a provider."""
    graph = grimp.build_graph(*PACKAGES, include_external_packages=True, cache_dir=None)
    assert sdk_importers(graph, "render") == []
    graph.add_import(importer="render.nats", imported="pulumi_kubernetes")
    assert sdk_importers(graph, "render") == [("render.nats", "pulumi_kubernetes")]


def test_every_stack_output_is_named_once(oslo: StackRun) -> None:
    """__main__.py exports exactly the names in settings/outputs.py, and uses no bare string."""
    named = {v for k, v in vars(outputs).items() if k.isupper()}
    replicated_only = {outputs.REDIS_SENTINELS}  # exported where Valkey is replicated (bergen)
    assert set(oslo.outputs) == named - replicated_only
    assert replicated_only <= set(run_stack("bergen").outputs)
    source = (PROJECT_DIR / "__main__.py").read_text()
    assert "pulumi.export(\"" not in source and source.count("pulumi.export(outputs.") == len(named)
