"""`GET /loki/api/v1/drilldown-limits`, as Loki's `tenantLimitsHandler(forDrilldown)` answers."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from loglake.config import load_settings
from loglake.query.drilldown import drilldown_limits
from tests.loglake.query.conftest import Api

# Loki 3.7's default OTLP resource attributes indexed as labels, in its order.
OTLP_DEFAULT = [
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
]


def test_default_limits_are_published_as_loki_publishes_them(api: Api) -> None:
    r = api.get("drilldown-limits", tenant="fake")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.text.endswith("}\n")
    body = r.json()
    assert list(body) == ["limits", "pattern_ingester_enabled", "version"]
    assert body["pattern_ingester_enabled"] is False
    assert body["version"] == api.get("status/buildinfo").json()["version"]
    limits = body["limits"]
    assert list(limits) == sorted(limits)
    assert limits == {
        "discover_log_levels": False,
        "discover_service_name": [
            "service",
            "app",
            "application",
            "app_name",
            "name",
            "app_kubernetes_io_name",
            "container",
            "container_name",
            "k8s_container_name",
            "component",
            "workload",
            "job",
            "k8s_job_name",
        ],
        "log_level_fields": [
            "level",
            "LEVEL",
            "Level",
            "log.level",
            "severity",
            "SEVERITY",
            "Severity",
            "SeverityText",
            "lvl",
            "LVL",
            "Lvl",
            "severity_text",
            "Severity_Text",
            "SEVERITY_TEXT",
        ],
        "max_entries_limit_per_query": 5000,
        "max_line_size_truncate": False,
        "max_query_bytes_read": "0B",
        "max_query_length": "30d1h",
        "max_query_lookback": "0s",
        "max_query_range": "0s",
        "max_query_series": 500,
        "metric_aggregation_enabled": False,
        "otlp_config": {
            "resource_attributes": {
                "attributes_config": [
                    {"action": "index_label", "attributes": OTLP_DEFAULT, "regex": ""}
                ]
            }
        },
        "pattern_persistence_enabled": False,
        "query_timeout": "1m",
        "retention_period": "0s",
        "volume_enabled": True,
        "volume_max_series": 1000,
    }


def test_the_tenants_own_limits_and_retention_rules_are_published(tmp_path) -> None:
    settings = load_settings(lake=str(tmp_path / "lake"))
    settings.overrides = {
        "team-a": {
            "max_query_series": 20,
            "max_query_bytes_read": "150GB",
            "retention_period": "744h",
            "retention_stream": [
                {"selector": '{namespace="dev"}', "priority": 1, "period": "14d"},
                {"selector": '{app=~"a&b|<c>"}', "priority": 2, "period": "48h"},
            ],
        }
    }
    text = drilldown_limits(settings, "team-a", "3.7.6").decode()
    limits = json.loads(text)["limits"]
    assert (limits["max_query_series"], limits["max_query_bytes_read"]) == (20, "150GB")
    assert limits["retention_period"] == "31d"
    assert limits["retention_stream"] == [
        {"period": "2w", "priority": 1, "selector": '{namespace="dev"}'},
        {"period": "2d", "priority": 2, "selector": '{app=~"a&b|<c>"}'},
    ]
    # Go's encoder escapes HTML characters in strings
    assert '"{app=~\\"a\\u0026b|\\u003cc\\u003e\\"}"' in text
    assert "retention_stream" not in json.loads(drilldown_limits(settings, "other", "x"))["limits"]


@pytest.mark.parametrize(
    ("header", "status", "message"),
    [
        (None, 401, "no org id"),
        ("a|b", 401, "multiple org IDs present"),
        ("..", 401, "tenant ID is '.' or '..'"),
    ],
)
def test_the_tenant_comes_from_the_header_even_without_auth(
    make_api: Callable[..., Api], header, status, message
) -> None:
    api = make_api(auth_enabled=False)
    r = api.get("drilldown-limits", tenant=header)
    assert (r.status_code, r.text) == (status, message + "\n")


def test_a_repeated_tenant_with_metadata_is_one_tenant(api: Api) -> None:
    assert api.get("drilldown-limits", tenant="t:k=v|t").status_code == 200
