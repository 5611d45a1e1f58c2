"""What a service's OpenAPI document says beyond what APIFlask derives from its routes.

APIFlask documents each route's input, output and declared access. A client
generated from the document needs the rest to be as true: a stable
``operationId`` per operation, every status the operation can answer (each with
the one error body), decimals as the strings they travel as, the rules of a
field or a body that JSON Schema can state, and query parameters as a query
string has them (absent, never null). The gateway adds what it answers itself
(gateway/openapi.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from apispec import APISpec, BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import fields

from shared.schemas import ERROR_SCHEMA, YEAR_PATTERN, DecimalString, Text, Trimmed, UTCDateTime

Document = dict[str, Any]

ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}
# What each error status means wherever it is answered; an operation's own
# description (``@bp.doc(responses=...)``) names its particular codes instead.
ERRORS = {
    400: "Malformed: the body is not JSON (malformed_json)",
    401: "No usable access token: missing, malformed, expired or revoked",
    403: "The caller's role may not do this (forbidden), or the caller must change their "
    "password first (password_change_required)",
    404: "What the path names does not exist, or is not the caller's to see (its *_not_found)",
    409: "Conflicts with the current state; the code says which",
    413: "The body is larger than this operation takes (payload_too_large)",
    415: "The body is not of the type this operation takes (unsupported_media_type)",
    422: "Invalid fields (validation_error: details names each), or a rule no schema states "
    "(its code, e.g. implausible_odometer_jump)",
}
INVALID_CURSOR = "The cursor is not one this API issued for this list (invalid_cursor)"
NO_BODY = {"204", "304"}
WRITES = {"post", "put", "patch", "delete"}


class FieldRules(BasePlugin):
    """Field and schema rules in the document, declared where the rules are.

    A :class:`~shared.schemas.DecimalString` is a string of format ``decimal``
    with its pattern and bounds; a :class:`~shared.schemas.UTCDateTime` has its
    year range as a pattern; a schema class's ``json_schema`` (``if``/``then``/
    ``else`` rules, see :func:`shared.schemas.present`) joins its properties.
    """

    def init_spec(self, spec: APISpec) -> None:
        # APIFlask puts its marshmallow plugin first: its converter exists by now.
        (marshmallow,) = (p for p in spec.plugins if isinstance(p, MarshmallowPlugin))
        assert marshmallow.converter is not None
        marshmallow.converter.add_attribute_function(_field_rules)

    def schema_helper(
        self, name: str, definition: dict[str, Any], schema: Any = None, **kwargs: Any
    ) -> dict[str, Any] | None:
        schema_class = schema if isinstance(schema, type) else type(schema)
        rules: dict[str, Any] | None = getattr(schema_class, "json_schema", None)
        return {**definition, **rules} if rules else None


def _field_rules(_converter: Any, field: fields.Field, ret: dict[str, Any], **_: Any) -> Document:
    rules: Document
    if isinstance(field, Text | UTCDateTime):
        rules = {"pattern": field.pattern}
        if isinstance(field, Trimmed) and field.blank_is_null and "minLength" in ret:
            rules["minLength"] = 0
        return rules
    if isinstance(field, DecimalString):
        kinds = ret["type"] if isinstance(ret["type"], list) else [ret["type"]]
        rules = {
            "type": ["string" if kind == "number" else kind for kind in kinds],
            "format": "decimal",
            "pattern": field.pattern,
        }
        if rules["type"] == ["string"]:
            rules["type"] = "string"
        if field.between is not None:
            described = ret.get("description", "").rstrip(".")
            rules["description"] = f"{described}. {field.bounds}" if described else field.bounds
        return rules
    return {}


def complete_document(app: Flask) -> Callable[[Document | str], Document | str]:
    """A spec processor for ``app``: the document completed as the module says."""

    def process(spec: Document | str) -> Document | str:
        # APIFlask hands the document over as a dict unless SPEC_FORMAT asks for text.
        if not isinstance(spec, dict):
            return spec
        spec.setdefault("components", {}).setdefault("schemas", {})["HTTPError"] = ERROR_SCHEMA
        components = spec["components"]["schemas"]
        for (path, method), (endpoint, uuids) in _endpoints(app).items():
            operation = spec["paths"].get(path, {}).get(method)
            if operation is not None:
                operation["operationId"] = operation_id(endpoint)
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "path" and parameter["name"] in uuids:
                        parameter["schema"] = {"type": "string", "format": "uuid"}
                _complete_operation(operation, method, components)
        _link_created_resources(spec["paths"])
        for schema in components.values():
            for prop in schema.get("properties", {}).values():
                _one_nullable_enum(prop)
        return spec

    return process


def _endpoints(app: Flask) -> dict[tuple[str, str], tuple[str, set[str]]]:
    """(OpenAPI path, method) → (endpoint, the path's uuid variables), for every route."""
    endpoints = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        # APIFlask documents every path variable as a plain string.
        uuids = set(re.findall(r"<uuid:([^<>]+)>", rule.rule))
        for method in rule.methods or ():
            endpoints[path, method.lower()] = (rule.endpoint, uuids)
    return endpoints


def _one_nullable_enum(prop: Document) -> None:
    """``{"type": ["string", "null"], "enum": [..., null]}`` as ``anyOf`` the enum or
    null: the same values, which generated clients read as one enum (or None)
    instead of one enum class per way of writing it."""
    kinds = prop.get("type")
    if "enum" not in prop or not isinstance(kinds, list) or "null" not in kinds:
        return
    (kind,) = (k for k in kinds if k != "null")
    values = [value for value in prop.pop("enum") if value is not None]
    del prop["type"]
    prop["anyOf"] = [{"type": kind, "enum": values}, {"type": "null"}]


def _link_created_resources(paths: Document) -> None:
    """Links from each ``201`` to what can be done with what it created: ``POST /trips``
    to ``GET``, and ``POST .../check-in`` on, ``/trips/{trip_id}``, whose id is the
    answer's ``id``. Clients (and Schemathesis's stateful runs) follow them."""
    for path, item in paths.items():
        created = item.get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        links = {}
        for target, target_item in paths.items():
            found = re.fullmatch(re.escape(path) + r"/\{([a-z_]+)\}(/[^{}]*)?", target)
            if found is None:
                continue
            for operation in target_item.values():
                links[operation["operationId"]] = {
                    "operationId": operation["operationId"],
                    "parameters": {found.group(1): "$response.body#/id"},
                }
        if links:
            created["links"] = dict(sorted(links.items()))


def operation_id(endpoint: str) -> str:
    """``vehicles.create_vehicle`` → ``vehicles_create``: the blueprint, then the view's
    name without the words that only repeat the blueprint's (``trips_check_in``,
    ``fuel_list_logs``, ``maintenance_create_schedule``, ``auth_login``)."""
    blueprint, _, view = endpoint.rpartition(".")
    words = [word for word in view.split("_") if blueprint not in (word, word + "s")]
    return "_".join([blueprint, *words]) if blueprint else view


def _complete_operation(operation: Document, method: str, components: Document) -> None:
    parameters = operation.get("parameters", [])
    for parameter in parameters:
        if parameter["in"] == "query":
            _as_query_string_has_it(parameter["schema"])
    statuses = set()
    if operation.get("security"):
        statuses |= {401, 403}
    body = operation.get("requestBody")
    if body is not None:
        body["required"] = _refused_without_body(body, components)
        statuses |= {413, 422}
        if "application/json" in body["content"]:
            statuses |= {400, 415}
    if any(parameter["in"] == "query" for parameter in parameters):
        statuses.add(422)
    if any(parameter["in"] == "path" for parameter in parameters):
        statuses.add(404)
    if method in WRITES:
        statuses.add(409)
    responses = operation["responses"]
    if any(parameter["name"] == "cursor" for parameter in parameters):
        responses.setdefault("400", {"description": INVALID_CURSOR, "content": ERROR_CONTENT})
    for status in sorted(statuses):
        responses.setdefault(str(status), {"description": ERRORS[status], "content": ERROR_CONTENT})
    for code, response in responses.items():
        if code in NO_BODY:
            # APIFlask gives every response a content; these have no body.
            response.pop("content", None)
        elif code[0] in "45" and not response.get("content"):
            response["content"] = ERROR_CONTENT
    if any(parameter["name"] == "format" for parameter in parameters):
        (success,) = (response for code, response in responses.items() if code.startswith("2"))
        success["content"]["text/csv"] = {"schema": {"type": "string"}}


def _refused_without_body(body: Document, components: Document) -> bool:
    """A body is required where its schema requires a field: without a body that field is
    missing (422). A body of only optional fields may be left out (``POST /logout``)."""
    for content in body["content"].values():
        reference = content["schema"].get("$ref", "")
        schema = components.get(reference.rpartition("/")[2], content["schema"])
        if schema.get("required"):
            return True
    return False


def _as_query_string_has_it(schema: Document) -> None:
    """A query parameter is absent or has a value; it is never null.

    Its rules are the fields' as in a body (APIFlask converts query fields without
    the document's plugins): every time a query takes is a UTCDateTime and every
    free text a Text.
    """
    schema.pop("nullable", None)
    if schema.get("default", ...) is None:
        del schema["default"]
    if "enum" in schema:
        schema["enum"] = [value for value in schema["enum"] if value is not None]
    elif schema.get("format") == "date-time":
        schema["pattern"] = YEAR_PATTERN
    elif schema.get("type") == "string" and "format" not in schema:
        schema["pattern"] = Text().pattern
