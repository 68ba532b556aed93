"""Arrow values as JSON, the one conversion every JSON answer of loglake uses (the SQL API,
`loglake sql --format json`).

At any depth: maps become objects (a key that is not a string becomes its JSON text),
structs objects, lists lists, and non-finite floats the strings Loki prints (`NaN`, `+Inf`,
`-Inf`), which JSON has no numbers for.
"""

from __future__ import annotations

import json
import math

import pyarrow as pa


def json_columns(table: pa.Table) -> list[list[object]]:
    """Each column of `table` as a list of JSON-ready values."""
    return [[json_value(v, c.type) for v in c.to_pylist()] for c in table.columns]


def json_value(value: object, type_: pa.DataType) -> object:
    """`value`, as `to_pylist` gives it for `type_`, made JSON-ready (see the module)."""
    if value is None:
        return None
    if pa.types.is_dictionary(type_):
        return json_value(value, type_.value_type)
    if pa.types.is_map(type_):
        return {
            _key(json_value(k, type_.key_type)): json_value(v, type_.item_type) for k, v in value
        }
    if pa.types.is_struct(type_):
        return {f.name: json_value(value[f.name], f.type) for f in type_}
    if (
        pa.types.is_list(type_)
        or pa.types.is_large_list(type_)
        or pa.types.is_fixed_size_list(type_)
    ):
        return [json_value(v, type_.value_type) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return value


def _key(key: object) -> str:
    """A JSON object key: strings as they are, anything else as its JSON text."""
    return key if isinstance(key, str) else json.dumps(key, default=str, ensure_ascii=False)
