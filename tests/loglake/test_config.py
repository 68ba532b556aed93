"""Settings: per-tenant overrides from the runtime config are merged over `limits_config`
and checked when the file is loaded, as Loki refuses a runtime config it cannot read; the
retention keys the housekeeping uses come from the same `Limits`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loglake.config import load_settings
from loglake.ops_config import retention_policy

DAY_NS = 24 * 3600 * 1_000_000_000


def write_config(tmp_path: Path, overrides: dict) -> Path:
    (tmp_path / "overrides.yaml").write_text(yaml.safe_dump({"overrides": overrides}))
    config = tmp_path / "loglake.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "limits_config": {"retention_period": "30d", "deletion_mode": "filter-only"},
                "runtime_config": {"file": "overrides.yaml"},
            }
        )
    )
    return config


def test_overrides_merge_over_the_global_limits(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {"a": {"retention_stream": [{"selector": '{env="dev"}', "period": "24h"}]}},
    )
    settings = load_settings(config)
    a, b = settings.limits_for("a"), settings.limits_for("b")
    assert (a.retention_period, a.deletion_mode) == (30 * DAY_NS, "filter-only")
    assert retention_policy(a).rules[0].period_ns == DAY_NS
    assert b is settings.limits_config and retention_policy(b).rules == ()


@pytest.mark.parametrize(
    "override",
    [
        {"deletion_mode": "sometimes"},
        {"retention_period": "a while"},
        {"retention_stream": [{"selector": '{env="dev"}', "period": "1h"}]},
        {"no_such_limit": 1},
    ],
)
def test_a_bad_override_fails_the_load(tmp_path: Path, override: dict) -> None:
    with pytest.raises(ValueError):
        load_settings(write_config(tmp_path, {"a": override}))
