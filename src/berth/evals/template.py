"""Templates over a sample's namespaces: ``{{item.question}}``, ``{{sample.output_text}}``.

A reference is a dotted path into ``item`` (the data source's row) or ``sample`` (what the
model answered); a value that is not text is written as JSON. A reference to something the
row does not hold is an error naming it, never an empty string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from berth import errors

REFERENCE = re.compile(r"\{\{\s*([A-Za-z_][\w.\-]*)\s*\}\}")
NAMESPACES = ("item", "sample")


class TemplateError(errors.InvalidRequest):
    """A template names something the sample does not hold."""


def references(template: str) -> Iterator[str]:
    """The dotted paths a template names, in order."""
    for match in REFERENCE.finditer(template):
        yield match.group(1)


def check(template: str, where: str, item_fields: frozenset[str] | None = None) -> None:
    """Refuse a template whose references name no namespace, or a field the item schema does
    not have (when it lists its fields); ``where`` names the field in the message."""
    for path in references(template):
        namespace, _, rest = path.partition(".")
        if namespace not in NAMESPACES or not rest:
            raise errors.InvalidRequest(
                f"{where}: '{{{{{path}}}}}' is not a reference Berth can fill. Write "
                "{{item.FIELD}} for the data source's row or {{sample.output_text}} for the "
                "model's answer."
            )
        head = rest.split(".")[0]
        if namespace == "item" and item_fields and head not in item_fields:
            raise errors.InvalidRequest(
                f"{where}: '{{{{{path}}}}}' names no field of the item schema (its fields: "
                f"{', '.join(sorted(item_fields))})."
            )


def lookup(scope: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` in ``scope``; TemplateError if any step is missing."""
    value: Any = scope
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise TemplateError(f"'{{{{{path}}}}}' names nothing in this sample ('{part}').")
    return value


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render(template: str, scope: Mapping[str, Any]) -> str:
    """The template with each reference replaced by its value in ``scope``."""
    return REFERENCE.sub(lambda match: as_text(lookup(scope, match.group(1))), template)
