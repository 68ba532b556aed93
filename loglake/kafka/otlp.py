"""OTLP logs JSON (what `otelcol.exporter.kafka` writes with `encoding = "otlp_json"`) →
entries, by the rule Loki's OTLP endpoint applies by default.

Main interface: `decode_otlp_json(value, default_ts_ns)` yields
`(labels, ts_ns, line, structured_metadata)` per log record of a
`{"resourceLogs":[{"resource":…,"scopeLogs":[{"scope":…,"logRecords":[…]}]}]}` batch.

- **Labels**: the resource attributes Loki indexes by default
  (`default_resource_attributes_as_index_labels`: `service.name`, `service.namespace`,
  `service.instance.id`, `deployment.environment`, `deployment.environment.name`, `cloud.region`,
  `cloud.availability_zone`, `container.name`, `k8s.cluster.name`, `k8s.namespace.name`,
  `k8s.pod.name`, `k8s.container.name`, and the `k8s.*.name` of deployments, replicasets,
  statefulsets, daemonsets, cronjobs and jobs), names normalised as Loki does (every
  character outside `[a-zA-Z0-9_]` becomes `_`: `service.name` → `service_name`).
- **Line**: the body; a string body as is, any other value as compact JSON.
- **Timestamp**: `timeUnixNano`, else `observedTimeUnixNano`, else the read time.
- **Structured metadata**: the other resource attributes, the scope's attributes and the
  record's attributes (normalised names, record wins), plus `scope_name`, `scope_version`,
  `severity_text`, `severity_number`, `trace_id`, `span_id` when set.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

LOKI_DEFAULT_INDEX_ATTRIBUTES = (
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
)
"""Loki's `default_resource_attributes_as_index_labels`, in its order (Loki docs, OTLP
ingestion; `/drilldown-limits` publishes them)."""
INDEX_LABEL_ATTRIBUTES = frozenset(LOKI_DEFAULT_INDEX_ATTRIBUTES)
"""The resource attributes stored as index labels."""

_NOT_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9_]")


class OtlpDecodeError(ValueError):
    """A record that is not an OTLP logs JSON batch."""


def normalise_name(name: str) -> str:
    """An attribute name as a Loki label name.

    >>> normalise_name("k8s.pod.name")
    'k8s_pod_name'
    """
    out = _NOT_LABEL_CHAR.sub("_", name)
    return f"_{out}" if out[:1].isdigit() else out


def any_value(value: Any) -> Any:
    """An OTLP JSON `AnyValue` as a Python value.

    >>> any_value({"kvlistValue": {"values": [{"key": "a", "value": {"intValue": "3"}}]}})
    {'a': 3}
    """
    if not isinstance(value, Mapping):
        raise OtlpDecodeError("AnyValue: expected an object")
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "bytesValue" in value:
        return base64.b64decode(value["bytesValue"]).hex()
    if "arrayValue" in value:
        return [any_value(v) for v in (value["arrayValue"] or {}).get("values") or ()]
    if "kvlistValue" in value:
        return _attributes((value["kvlistValue"] or {}).get("values"))
    return None


def as_text(value: Any) -> str:
    """A value as label/metadata/line text: strings unchanged, the rest compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _attributes(items: Any) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise OtlpDecodeError("attributes: expected an array")
    out = {}
    for item in items:
        if not isinstance(item, Mapping) or "key" not in item:
            raise OtlpDecodeError("attribute: expected an object with a key")
        out[str(item["key"])] = any_value(item.get("value") or {})
    return out


def _nanos(value: Any) -> int:
    return int(value) if value not in (None, "", "0", 0) else 0


def decode_otlp_json(
    value: bytes | str, *, default_ts_ns: int
) -> Iterator[tuple[dict[str, str], int, str, tuple[tuple[str, str], ...]]]:
    """Yield `(labels, ts_ns, line, structured_metadata)` per log record.

    >>> batch = ('{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name",'
    ...     '"value":{"stringValue":"cart"}},{"key":"host.name","value":{"stringValue":"n1"}}]},'
    ...     '"scopeLogs":[{"logRecords":[{"timeUnixNano":"5","body":{"stringValue":"hi"},'
    ...     '"severityText":"INFO"}]}]}]}')
    >>> list(decode_otlp_json(batch, default_ts_ns=0))
    [({'service_name': 'cart'}, 5, 'hi', (('host_name', 'n1'), ('severity_text', 'INFO')))]
    """
    try:
        document = json.loads(value)
    except (ValueError, UnicodeDecodeError) as err:
        raise OtlpDecodeError(f"invalid JSON: {err}") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("resourceLogs"), list):
        raise OtlpDecodeError("not an OTLP logs batch: expected an object with resourceLogs")
    for resource_logs in document["resourceLogs"]:
        if not isinstance(resource_logs, Mapping):
            raise OtlpDecodeError("resourceLogs: expected objects")
        resource = _attributes((resource_logs.get("resource") or {}).get("attributes"))
        labels: dict[str, str] = {}
        resource_meta: dict[str, str] = {}
        for name, attr in resource.items():
            target = labels if name in INDEX_LABEL_ATTRIBUTES else resource_meta
            text = as_text(attr)
            if text:
                target[normalise_name(name)] = text
        for scope_logs in resource_logs.get("scopeLogs") or ():
            scope = scope_logs.get("scope") or {}
            scope_meta = {
                normalise_name(k): as_text(v)
                for k, v in _attributes(scope.get("attributes")).items()
            }
            for key, name in (("name", "scope_name"), ("version", "scope_version")):
                if scope.get(key):
                    scope_meta[name] = str(scope[key])
            for log in scope_logs.get("logRecords") or ():
                if not isinstance(log, Mapping):
                    raise OtlpDecodeError("logRecords: expected objects")
                yield _record(log, labels, {**resource_meta, **scope_meta}, default_ts_ns)


def _record(
    log: Mapping[str, Any], labels: dict[str, str], inherited: dict[str, str], default_ts: int
) -> tuple[dict[str, str], int, str, tuple[tuple[str, str], ...]]:
    ts = _nanos(log.get("timeUnixNano")) or _nanos(log.get("observedTimeUnixNano")) or default_ts
    line = as_text(any_value(log["body"])) if log.get("body") else ""
    meta = dict(inherited)
    for name, attr in _attributes(log.get("attributes")).items():
        meta[normalise_name(name)] = as_text(attr)
    if log.get("severityText"):
        meta["severity_text"] = str(log["severityText"])
    if log.get("severityNumber"):
        meta["severity_number"] = str(int(log["severityNumber"]))
    for key, name in (("traceId", "trace_id"), ("spanId", "span_id")):
        if log.get(key):
            meta[name] = str(log[key])
    return dict(labels), ts, line, tuple(sorted((k, v) for k, v in meta.items() if v))
