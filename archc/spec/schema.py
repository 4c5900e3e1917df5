"""The JSON Schema of the spec language, assembled from the pydantic models and registry."""

from __future__ import annotations

import copy
from typing import Any

from archc.layers import REGISTRY
from archc.spec.model import ENTRY_KEYS, SpecFile, VariantSpec, section_of

_EXPRESSION = {"type": "string", "description": "an expression over parameters, or $param"}


def _allow_expressions(prop: dict[str, Any]) -> dict[str, Any]:
    """Every non-string field may also be written as an expression string."""
    options = prop.get("anyOf", [prop])
    if any(o.get("type") == "string" and "enum" not in o and "const" not in o for o in options):
        return prop
    result = {
        k: v
        for k, v in prop.items()
        if k
        not in (
            "anyOf",
            "type",
            "items",
            "enum",
            "maxItems",
            "minItems",
            "prefixItems",
            "exclusiveMinimum",
            "minimum",
            "maximum",
            "const",
        )
    }
    core = {
        k: v
        for k, v in prop.items()
        if k
        in (
            "type",
            "items",
            "enum",
            "maxItems",
            "minItems",
            "prefixItems",
            "minimum",
            "exclusiveMinimum",
            "maximum",
            "const",
        )
    }
    result["anyOf"] = [*(prop["anyOf"] if "anyOf" in prop else [core]), _EXPRESSION]
    return result


def _entry_keys_schema() -> dict[str, Any]:
    return {
        "name": {"type": "string", "description": ENTRY_KEYS["name"]},
        "inputs": {
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            "description": ENTRY_KEYS["inputs"],
        },
        "when": {
            "anyOf": [{"type": "boolean"}, {"type": "string"}],
            "description": ENTRY_KEYS["when"],
        },
        "repeat": {
            "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}],
            "description": ENTRY_KEYS["repeat"],
        },
        "overrides": {"type": "object", "description": ENTRY_KEYS["overrides"]},
        "init": {"type": "string", "description": ENTRY_KEYS["init"]},
        "trainable": {
            "anyOf": [{"type": "boolean"}, {"type": "string"}],
            "description": ENTRY_KEYS["trainable"],
        },
        "doc": {"type": "string", "description": ENTRY_KEYS["doc"]},
    }


def layer_schema(type_name: str) -> dict[str, Any]:
    """The schema of one layer kind's entry: its fields plus the common entry keys."""
    kind = REGISTRY[type_name]
    fields = kind.Fields.model_json_schema()
    props = {name: _allow_expressions(p) for name, p in fields.get("properties", {}).items()}
    for p in props.values():
        p.pop("title", None)
    return {
        "type": "object",
        "title": type_name,
        "description": kind.first_line(),
        "properties": {"type": {"const": type_name}, **props, **_entry_keys_schema()},
        "required": ["type", *fields.get("required", [])],
        "additionalProperties": False,
    }


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec file, for editors (`archc schema`)."""
    schema = copy.deepcopy(SpecFile.model_json_schema())
    _add_sections(schema)
    # One object schema for every mapping entry, with an if/then per layer kind: an editor
    # then reports the field at fault ("'kernal' was unexpected") instead of "not valid
    # under any of the given schemas", and completes `type:` with the kinds' names.
    mapping = {
        "type": "object",
        "description": "a layer ({type: conv, out: 64, kernel: 3}), a block instance "
        "({type: bottleneck, planes: 64}) or a sequential ({name: features, layers: [...]})",
        "properties": {
            "type": {
                "anyOf": [{"enum": sorted(REGISTRY)}, {"type": "string"}],
                "description": ENTRY_KEYS["type"],
            },
            "layers": {"description": ENTRY_KEYS["layers"]},
            **_entry_keys_schema(),
        },
        "allOf": [
            {
                "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                "then": layer_schema(name),
            }
            for name in sorted(REGISTRY)
        ],
    }
    entry = {
        "anyOf": [
            {
                "type": "string",
                "description": "a layer kind, block name or paper notation "
                "(conv3-64, maxpool, FC-4096, soft-max, LRN)",
            },
            mapping,
        ]
    }
    schema.setdefault("$defs", {})["LayerEntry"] = entry
    _point_entries(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://archc.dev/schema/spec-1.json"
    schema["title"] = "archc network spec"
    return schema


def _point_entries(node: Any) -> None:
    """Replace the models' loose `layers: [str | object]` items with the entry schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("layers",) and isinstance(value, dict) and value.get("type") == "array":
                value["items"] = {"$ref": "#/$defs/LayerEntry"}
            else:
                _point_entries(value)
    elif isinstance(node, list):
        for item in node:
            _point_entries(item)


def _add_sections(schema: dict[str, Any]) -> None:
    """Describe the settings sections (plain mappings in the spec models, see Section in
    spec/model.py) by their own models, as if the spec models held them."""
    defs = schema.setdefault("$defs", {})
    for model, owner in ((SpecFile, schema), (VariantSpec, defs["VariantSpec"])):
        for name, field in model.model_fields.items():
            section = section_of(field)
            if section is None:
                continue
            settings = section.model().model_json_schema()
            defs.update(settings.pop("$defs", {}))
            defs[section.model_name] = settings
            owner["properties"][name] = {
                "anyOf": [{"$ref": f"#/$defs/{section.model_name}"}, {"type": "null"}],
                "default": None,
                "description": field.description,
            }
    schema["$defs"] = dict(sorted(defs.items()))  # in pydantic's order
