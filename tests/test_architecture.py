"""The services are independent: each imports only ``shared`` and itself.

Two checks of the same rule: import-linter with the contracts of
pyproject.toml (run as the developer would run it, and shown to fail on a
tree that breaks them), and a plain ``ast`` scan that needs no tool.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FLEET = REPO_ROOT / "fleet_service"
SERVICES = ("gateway", "auth_service", "fleet_service", "media_service", "web")
SHARED = "shared"
FIRST_PARTY = frozenset({*SERVICES, SHARED, "frota"})
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def importlinter_config() -> dict:
    with (REPO_ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["tool"]["importlinter"]


def run_lint_imports(cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *extra],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- import-linter --------------------------------------------------------------------


def test_the_contracts_cover_every_service_and_shared():
    contracts = {c["name"]: c for c in importlinter_config()["contracts"]}

    independence = [c for c in contracts.values() if c["type"] == "independence"]
    assert any(set(c["modules"]) == set(SERVICES) for c in independence)
    forbidden = [c for c in contracts.values() if c["type"] == "forbidden"]
    assert any(
        c["source_modules"] == [SHARED] and set(SERVICES) <= set(c["forbidden_modules"])
        for c in forbidden
    )


def test_every_service_package_is_known_to_the_contracts():
    packages = {p.parent.name for p in REPO_ROOT.glob("*/__init__.py")}

    assert set(SERVICES) | {SHARED} <= packages
    assert packages - {"tests"} <= set(importlinter_config()["root_packages"])


def test_lint_imports_keeps_every_contract():
    assert LINT_IMPORTS.exists(), f"lint-imports is not installed next to {sys.executable}"

    result = run_lint_imports(REPO_ROOT)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for contract in importlinter_config()["contracts"]:
        assert f"{contract['name']} KEPT" in output
    assert "0 broken" in output


def _between_packages(contract: dict) -> bool:
    if contract["type"] == "layers":
        return False
    named = [*contract.get("modules", []), *contract.get("source_modules", [])]
    return all("." not in module for module in named)


def write_tree(root: Path, extra_imports: dict[str, str]) -> None:
    """A copy of the import-linter config over a tiny tree with every root package.

    ``extra_imports`` maps a package to an import statement added to its module.
    """
    config = importlinter_config()
    # JSON strings and arrays are valid TOML values.
    lines = ["[tool.importlinter]", f"root_packages = {json.dumps(config['root_packages'])}", ""]
    # The contracts between packages; those inside a service name its modules,
    # which this tree does not have (they are kept on the real tree).
    for contract in (c for c in config["contracts"] if _between_packages(c)):
        lines.append("[[tool.importlinter.contracts]]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in contract.items())
        lines.append("")
    (root / "pyproject.toml").write_text("\n".join(lines))
    for package in config["root_packages"]:
        (root / package).mkdir()
        (root / package / "__init__.py").write_text("")
        body = "import json\n"
        if package not in (SHARED, "frota"):
            body += "from shared import util\n"
        body += extra_imports.get(package, "")
        (root / package / "util.py").write_text(body)


def test_lint_imports_passes_on_a_clean_copy_of_the_layout(tmp_path):
    write_tree(tmp_path, {"frota": "import gateway.util\nimport fleet_service.util\n"})

    result = run_lint_imports(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("importer", "statement", "contract"),
    [
        ("gateway", "import fleet_service.util\n", "Services never import each other"),
        ("fleet_service", "from auth_service import util\n", "Services never import each other"),
        (
            "media_service",
            "def later():\n    import gateway.util\n",
            "Services never import each other",
        ),
        (SHARED, "from media_service import util\n", "shared imports no service"),
        (SHARED, "import frota.util\n", "shared imports no service"),
    ],
)
def test_lint_imports_fails_when_a_contract_is_broken(tmp_path, importer, statement, contract):
    write_tree(tmp_path, {importer: statement})

    result = run_lint_imports(tmp_path)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"{contract} BROKEN" in output


# --- the same rule, by ast ------------------------------------------------------------


def imported_packages(source: str, package: str) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of every import in ``source``, wherever it is written.

    Relative imports stay inside ``package``; ``importlib.import_module("x")``
    and ``__import__("x")`` with a literal name count as imports of ``x``.
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.partition(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                yield node.lineno, package
            elif node.module:
                yield node.lineno, node.module.partition(".")[0]
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id == "__import__")
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value.partition(".")[0]


def forbidden_imports(source: str, package: str) -> list[tuple[int, str]]:
    """The first-party imports ``package`` may not make: others than itself and shared."""
    allowed = {package} if package == SHARED else {package, SHARED}
    return [
        (line, imported)
        for line, imported in imported_packages(source, package)
        if imported in FIRST_PARTY and imported not in allowed
    ]


def python_files(package: str) -> list[Path]:
    return sorted(p for p in (REPO_ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("package", [*SERVICES, SHARED])
def test_no_module_imports_another_service(package):
    files = python_files(package)
    assert files, f"no Python files under {package}/"

    violations = [
        f"{path.relative_to(REPO_ROOT)}:{line} imports {imported}"
        for path in files
        for line, imported in forbidden_imports(path.read_text(), package)
    ]

    assert violations == []


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("gateway", "import fleet_service", [(1, "fleet_service")]),
        ("gateway", "from auth_service.models import User", [(1, "auth_service")]),
        ("fleet_service", "def f():\n    from media_service import x", [(2, "media_service")]),
        ("fleet_service", "if TYPE_CHECKING:\n    import gateway.app", [(2, "gateway")]),
        ("media_service", "importlib.import_module('auth_service.x')", [(1, "auth_service")]),
        ("media_service", "import frota.cli", [(1, "frota")]),
        (SHARED, "from fleet_service import vehicles", [(1, "fleet_service")]),
        (SHARED, "import frota", [(1, "frota")]),
        ("gateway", "import shared.errors\nfrom gateway import proxy\nfrom . import x", []),
        ("fleet_service", "from .vehicles import service\nimport requests\nimport os", []),
        (SHARED, "from shared.errors import APIError\nimport sqlalchemy", []),
    ],
)
def test_the_scan_finds_what_it_must(package, source, expected):
    assert forbidden_imports(textwrap.dedent(source), package) == expected


MAX_FUNCTION_LINES = 60


def long_functions(source: str) -> list[tuple[str, int]]:
    """Each function (or method) of ``source`` over MAX_FUNCTION_LINES, with its length."""
    return [
        (node.name, length)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    ]


@pytest.mark.parametrize("package", sorted(FIRST_PARTY))
def test_no_function_of_the_application_runs_over_sixty_lines(package):
    # Migrations are data (a schema written out), not logic.
    found = {
        f"{path.relative_to(REPO_ROOT)}:{name}": length
        for path in python_files(package)
        if "migrations" not in path.parts
        for name, length in long_functions(path.read_text())
    }
    assert found == {}


def test_the_length_check_finds_a_long_function():
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    assert long_functions(f"def short():\n    pass\n\ndef long():\n{body}") == [
        ("long", MAX_FUNCTION_LINES + 1)
    ]


def test_every_fleet_domain_is_held_to_the_layers():
    # A new domain (a package with routes) is under the layers contract from its first commit.
    domains = {
        f"fleet_service.{p.parent.name}" for p in REPO_ROOT.glob("fleet_service/*/routes.py")
    }
    layered = [
        c for c in importlinter_config()["contracts"] if c["type"] == "layers" and "containers" in c
    ]

    assert len(layered) == 1
    assert set(layered[0]["containers"]) == domains


def test_every_fleet_domain_has_its_floor_and_its_own_schemas():
    domains = {p.parent.name for p in REPO_ROOT.glob("fleet_service/*/routes.py")}
    contracts = {c["name"]: c for c in importlinter_config()["contracts"]}

    floors = contracts["fleet_service domain rules, in floors"]["layers"]
    services = {module for floor in floors for module in floor.split(" : ")}
    assert services == {
        f"fleet_service.{d}.service" for d in domains if (FLEET / d / "service.py").exists()
    }
    schemas = set(contracts["fleet_service domain schemas are independent"]["modules"])
    assert schemas == {
        f"fleet_service.{d}.schemas" for d in domains if (FLEET / d / "schemas.py").exists()
    }


@pytest.mark.parametrize("service", ["auth_service", "media_service"])
def test_every_module_of_a_service_is_held_to_its_layers(service):
    # A module split out of another (as pruning, reconcile and the prune job
    # were out of retention) is under the layers contract from its first commit.
    modules = {
        f"{service}.{p.stem}" for p in REPO_ROOT.glob(f"{service}/*.py") if p.stem != "__init__"
    }
    (contract,) = [
        c
        for c in importlinter_config()["contracts"]
        if c["type"] == "layers" and c["layers"][-1].startswith(f"{service}.models")
    ]
    layered = {module for layer in contract["layers"] for module in layer.split(" : ")}

    assert layered == modules
