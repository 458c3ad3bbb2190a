"""The OpenAPI 3.0 document served at ``/openapi.json``, built from the loaded model's spec.

Shapes are filled in from the model when it is loaded (so a client generator, or a fuzzer,
sees the real row length); before that the document is generic.
"""

from __future__ import annotations

from typing import Any

from axiom_runtime.package import ModelSpec
from axiom_runtime.server.v2 import SUPPORTED_DATATYPES

_ERROR = {"$ref": "#/components/schemas/Error"}


def _nested_array(shape: tuple[int, ...], number: dict[str, Any]) -> dict[str, Any]:
    schema = number
    for size in reversed(shape):
        schema = {"type": "array", "items": schema, "minItems": size, "maxItems": size}
    return schema


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "invalid input: the field and the reason are named",
        404: "unknown model or version",
        413: "body larger than the configured limit",
        415: "Content-Type is not application/json",
        503: "model not ready (loading, failed to load or verify, shutting down) or overloaded",
    }
    return {str(status): _answer(text[status], _ERROR) for status in statuses}


def build_openapi(spec: ModelSpec | None, max_body_bytes: int) -> dict[str, Any]:
    number: dict[str, Any] = {"type": "number"}
    if spec is not None and spec.input_range is not None:
        number = {"type": "number", "minimum": spec.input_range[0], "maximum": spec.input_range[1]}
    if spec is not None:
        row = _nested_array(spec.input_shape, number)
    else:
        row = {"type": "array", "items": {}}
    predict_request = {
        "type": "object",
        "required": ["input"],
        "properties": {
            "input": {
                "oneOf": [row, {"type": "array", "items": row, "minItems": 1}],
                "description": "one row, or a list of rows",
            }
        },
    }
    tensor = {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1},
            "datatype": {"type": "string", "enum": list(SUPPORTED_DATATYPES)},
            "data": {"type": "array", "items": {}},
            "parameters": {"type": "object"},
        },
    }
    infer_request = {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {"type": "array", "items": tensor, "minItems": 1, "maxItems": 1},
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}},
                },
            },
        },
    }
    name_param = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    version_param = {
        "name": "version",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    any_object = {"type": "object"}
    infer_op = {
        "summary": "Open Inference Protocol v2 inference (JSON)",
        "requestBody": _json_body({"$ref": "#/components/schemas/InferRequest"}),
        "responses": {
            "200": _answer("inference response", any_object),
            **_errors(400, 404, 413, 415, 503),
        },
    }
    paths: dict[str, Any] = {
        "/predict": {
            "post": {
                "summary": "Predict one row or a batch of rows",
                "requestBody": _json_body({"$ref": "#/components/schemas/PredictRequest"}),
                "responses": {
                    "200": _answer("prediction, class, confidence and model identity", any_object),
                    **_errors(400, 413, 415, 503),
                },
            }
        },
        "/health": {
            "get": {"summary": "Liveness", "responses": {"200": _answer("alive", any_object)}}
        },
        "/ready": {
            "get": {
                "summary": "Readiness, with certificate state and reason",
                "responses": {
                    "200": _answer("ready", any_object),
                    "503": _answer("not ready; 'reason' says why", any_object),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text format 0.0.4)",
                "responses": {
                    "200": {
                        "description": "metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _answer("OpenAPI", any_object)},
            }
        },
        "/v2": {
            "get": {
                "summary": "V2 server metadata",
                "responses": {"200": _answer("metadata", any_object)},
            }
        },
        "/v2/health/live": {
            "get": {"summary": "V2 liveness", "responses": {"200": _answer("live", any_object)}}
        },
        "/v2/health/ready": {
            "get": {
                "summary": "V2 readiness",
                "responses": {
                    "200": _answer("ready", any_object),
                    "503": _answer("not ready", any_object),
                },
            }
        },
        "/v2/models/{name}": {
            "get": {
                "summary": "V2 model metadata",
                "parameters": [name_param],
                "responses": {"200": _answer("metadata", any_object), **_errors(404, 503)},
            }
        },
        "/v2/models/{name}/ready": {
            "get": {
                "summary": "V2 model readiness",
                "parameters": [name_param],
                "responses": {"200": _answer("ready", any_object), **_errors(404, 503)},
            }
        },
        "/v2/models/{name}/infer": {"post": {**infer_op, "parameters": [name_param]}},
        "/v2/models/{name}/versions/{version}": {
            "get": {
                "summary": "V2 model metadata for one version",
                "parameters": [name_param, version_param],
                "responses": {"200": _answer("metadata", any_object), **_errors(404, 503)},
            }
        },
        "/v2/models/{name}/versions/{version}/ready": {
            "get": {
                "summary": "V2 model readiness for one version",
                "parameters": [name_param, version_param],
                "responses": {"200": _answer("ready", any_object), **_errors(404, 503)},
            }
        },
        "/v2/models/{name}/versions/{version}/infer": {
            "post": {**infer_op, "parameters": [name_param, version_param]}
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Axiom inference runtime",
            "version": "1",
            "description": f"Request bodies are capped at {max_body_bytes} bytes.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "field"],
                    "properties": {
                        "error": {"type": "string"},
                        "field": {"type": "string", "nullable": True},
                    },
                },
                "PredictRequest": predict_request,
                "InferRequest": infer_request,
            }
        },
    }
