"""A Python client generated from Frota's OpenAPI document by openapi-python-client, as a
client developer would make it, with decimals typed as ``decimal.Decimal``.

The document declares money, litres, km/L and cost/km as ``{"type": "string", "format":
"decimal"}``. openapi-python-client 0.29 knows the string formats ``date``, ``date-time``,
``uuid`` and ``binary`` and makes every other one a ``str`` (``_string_based_property`` in
``openapi_python_client/parser/properties/__init__.py``); it has no plug-in point for a
format. So this module runs the generator's own command line with one change, made while it
runs and undone after: ``_string_based_property`` answers a :class:`DecimalProperty` for
``format: decimal``. That property mirrors the generator's ``UuidProperty``, and its template
(``client_templates/property_templates/decimal_property.py.jinja``, given to the generator as
its ``--custom-template-path``) reads a field with ``Decimal(value)`` — the digits the API
sent, never through a float — and writes it with ``format(value, "f")``: ``str()`` of a
Decimal can be in exponent form (``str(Decimal("50.00").normalize())`` is ``"5E+1"``), which
the API refuses. Everything else is the generator's own.

The configuration is the generator's supported one: no post hooks (ruff would only reformat
the output), and file content and thumbnails (``image/*``, ``application/pdf``) read as bytes
(``content_type_overrides``), which the generator otherwise leaves out with a warning.

Run as a module it is that command line: ``python -m tests.support.generated_client generate
--path ...``.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar
from unittest import mock

from attr import define, field
from openapi_python_client import Config
from openapi_python_client import schema as oai
from openapi_python_client.parser import properties
from openapi_python_client.parser.errors import PropertyError
from openapi_python_client.parser.properties.protocol import (
    PropertyProtocol,
    Value,
    convert_example,
)
from openapi_python_client.strings import PythonCode, PythonIdentifier

PACKAGE = "frota_generated_client"
REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Path(__file__).with_name("client_templates")
# Bytes the API answers for file content and thumbnails (as the document declares them).
BINARY_CONTENT_TYPES = ("application/pdf", "image/heic", "image/jpeg", "image/png", "image/webp")
CONFIG = {
    "package_name_override": PACKAGE,
    "post_hooks": [],
    "content_type_overrides": dict.fromkeys(BINARY_CONTENT_TYPES, "application/octet-stream"),
}
GENERATION_TIMEOUT_SECONDS = 60


@define
class DecimalProperty(PropertyProtocol):
    """A ``format: decimal`` string, as ``decimal.Decimal`` (after the generator's UuidProperty)."""

    name: oai.UntrustedString
    required: bool
    default: Value | None
    python_name: PythonIdentifier
    description: oai.UntrustedString | None
    example: oai.UntrustedString | None = field(converter=convert_example)

    _type_string: ClassVar[str] = "Decimal"
    _json_type_string: ClassVar[str] = "str"
    _allowed_locations: ClassVar[set[oai.ParameterLocation]] = {
        oai.ParameterLocation.QUERY,
        oai.ParameterLocation.PATH,
        oai.ParameterLocation.COOKIE,
        oai.ParameterLocation.HEADER,
    }
    template: ClassVar[str] = "decimal_property.py.jinja"

    @classmethod
    def build(
        cls,
        *,
        name: oai.UntrustedString,
        required: bool,
        default: Any,
        python_name: PythonIdentifier,
        description: oai.UntrustedString | None,
        example: Any,
    ) -> DecimalProperty | PropertyError:
        checked_default = cls.convert_value(default)
        if isinstance(checked_default, PropertyError):
            return checked_default
        return cls(
            name=name,
            required=required,
            default=checked_default,
            python_name=python_name,
            description=description,
            example=example,
        )

    @classmethod
    def convert_value(cls, value: Any) -> Value | PropertyError | None:
        if value is None or isinstance(value, Value):
            return value
        if isinstance(value, str):
            try:
                Decimal(value)
            except InvalidOperation:
                return PropertyError(f"Invalid decimal value: {value}")
            return Value(python_code=PythonCode(f"Decimal({value!r})"), raw_value=value)
        return PropertyError(f"Invalid decimal value: {value}")

    def get_imports(self, *, prefix: str) -> set[str]:
        return {*super().get_imports(prefix=prefix), "from decimal import Decimal"}


_generators_string_property = properties._string_based_property


def _string_based_property(
    name: oai.UntrustedString, required: bool, data: oai.Schema, config: Config
) -> Any:
    if data.schema_format == "decimal":
        return DecimalProperty.build(
            name=name,
            required=required,
            default=data.default,
            python_name=PythonIdentifier(value=name, prefix=config.field_prefix),
            description=data.description,
            example=data.example,
        )
    return _generators_string_property(name=name, required=required, data=data, config=config)


@contextmanager
def decimal_strings() -> Iterator[None]:
    """While inside, the generator makes ``format: decimal`` strings ``Decimal`` fields."""
    with mock.patch.object(properties, "_string_based_property", _string_based_property):
        yield


@dataclass
class Generation:
    """What one run of the generator made and printed."""

    package_dir: Path
    output: str
    returncode: int

    @property
    def warned(self) -> bool:
        # The command line prints one such line before its warnings (or errors).
        return "encountered while generating" in self.output


def generate_client(document: dict[str, Any], directory: Path) -> Generation:
    """Write ``document`` into ``directory`` and generate the client package beside it.

    The generator runs in its own process, as its command line, so that its output is
    exactly what a developer sees and the change above never touches the caller.
    """
    document_path = directory / "openapi.json"
    document_path.write_text(json.dumps(document))
    config_path = directory / "generator-config.json"
    config_path.write_text(json.dumps(CONFIG))
    package_dir = directory / PACKAGE
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            __name__,
            "generate",
            "--path",
            str(document_path),
            "--output-path",
            str(package_dir),
            "--meta",
            "none",
            "--config",
            str(config_path),
            "--custom-template-path",
            str(TEMPLATES),
            "--fail-on-warning",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=GENERATION_TIMEOUT_SECONDS,
        check=False,
    )
    return Generation(package_dir, run.stdout + run.stderr, run.returncode)


@contextmanager
def imported(generation: Generation) -> Iterator[ModuleType]:
    """The generated package, importable while inside; sys.path and sys.modules restored."""
    parent = str(generation.package_dir.parent)
    sys.path.insert(0, parent)
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(parent)
        for module in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[module]


class GeneratedClient:
    """The imported package, reached by the names a client developer reads in it: its
    ``Client``/``AuthenticatedClient`` (every one closed by :meth:`close`), its models, and
    its operation modules by operationId (``api/<tag>/<operation_id>.py``)."""

    def __init__(self, package: ModuleType, base_url: str) -> None:
        self.package = package
        self.base_url = base_url
        self.models: Any = importlib.import_module(f"{PACKAGE}.models")
        self._clients = ExitStack()

    def operation(self, operation_id: str) -> Any:
        """The module of one operation, whatever tag the document files it under."""
        (module,) = self._api.glob(f"*/{operation_id}.py")
        return importlib.import_module(f"{PACKAGE}.api.{module.parent.name}.{operation_id}")

    def operation_ids(self) -> list[str]:
        """Every operation the package has a module for."""
        return sorted(p.stem for p in self._api.glob("*/*.py") if p.name != "__init__.py")

    @property
    def _api(self) -> Path:
        return Path(self.package.__file__ or "").parent / "api"

    def anonymous(self) -> Any:
        """A client without a token; an undocumented status raises ``UnexpectedStatus``."""
        client = self.package.Client(base_url=self.base_url, raise_on_unexpected_status=True)
        return self._clients.enter_context(client)

    def authenticated(self, token: str) -> Any:
        """A client sending ``token``; an undocumented status raises ``UnexpectedStatus``."""
        client = self.package.AuthenticatedClient(
            base_url=self.base_url, token=token, raise_on_unexpected_status=True
        )
        return self._clients.enter_context(client)

    def close(self) -> None:
        self._clients.close()


def main() -> None:
    """The generator's command line, with ``format: decimal`` strings as ``Decimal``."""
    from openapi_python_client.cli import app

    with decimal_strings():
        app()


if __name__ == "__main__":
    main()
