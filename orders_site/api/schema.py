"""A drf-spectacular post-processing hook: what holds for every operation, added to every operation.

- 401 with a JSON body where credentials are required; 403 where a session may post without its
  CSRF token; 404 where the path has a parameter (an unknown id, or one that is not a UUID);
- the `Location` header of every 201;
- a declared request body is required (drf-spectacular leaves a raw-schema body optional; this
  API's views answer a missing body with 400 or 415);
- OpenAPI links from a created resource (a 201 body with an `id`) to every operation under
  `<collection>{param}/`, so stateful tests (tests/integration/test_api_schema.py) follow them: a new
  endpoint such as `POST /api/orders/{order_id}/cancel/` is linked from `POST /api/orders/` as soon as
  it exists.
"""
from __future__ import annotations

import re
from typing import Any

ERROR_SCHEMA = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
UNSAFE = {"post", "put", "patch", "delete"}
_PARAM = re.compile(r"\{([^}]+)\}")


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _body_has_id(response: dict[str, Any], schemas: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
    return "id" in schema.get("properties", {})


def add_common_responses(result: dict[str, Any], generator: Any = None, request: Any = None,
                         public: bool = True) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR_SCHEMA)
    paths: dict[str, dict[str, Any]] = result.get("paths", {})
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            security = operation.get("security", result.get("security", []))
            requires_auth = any(requirement for requirement in security)
            if requires_auth:
                responses.setdefault("401", _error("no credentials, or invalid ones"))
            if requires_auth and method in UNSAFE and any("cookieAuth" in r for r in security):
                responses.setdefault("403", _error("a session request without its CSRF token"))
            if _PARAM.search(path):
                responses.setdefault("404", _error("no such resource (or not yours), or a malformed id"))
            if "requestBody" in operation:
                operation["requestBody"].setdefault("required", True)
            if "201" in responses:
                responses["201"].setdefault("headers", {})["Location"] = {
                    "description": "the created resource", "schema": {"type": "string", "format": "uri-reference"}}
    for path, operations in paths.items():
        for method, operation in operations.items():
            created = operation.get("responses", {}).get("201")
            if not created or not _body_has_id(created, schemas):
                continue
            links = {}
            for target_path, targets in paths.items():
                rest = target_path[len(path):] if target_path.startswith(path) else ""
                params = _PARAM.findall(target_path)
                if not rest.startswith("{") or len(params) != 1:
                    continue
                for target_method, target in targets.items():
                    name = f"{target_method.upper()} {target_path}"
                    links[re.sub(r"[^A-Za-z0-9_.-]", "_", name)] = {
                        "operationId": target["operationId"], "parameters": {params[0]: "$response.body#/id"}}
            if links:
                created["links"] = links
    return result
