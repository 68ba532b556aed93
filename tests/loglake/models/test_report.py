"""The Hubble report renders offline: the HTML embeds every chart as a PNG with its series,
the PNGs exist, the figures shown equal the models', and (when Chromium is installed) a
headless browser renders the page."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from loglake.lake import Lake
from loglake.report.hubble import write_hubble_report
from tests.loglake.models.conftest import SYNTHETIC_DAY, TENANT, unique_flows

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(built_lake: tuple[Lake, list], tmp_path_factory: pytest.TempPathFactory):
    lake, _ = built_lake
    out = tmp_path_factory.mktemp("report")
    charts = write_hubble_report(lake, TENANT, out / "report.html", png_dir=out / "png")
    return out, charts


def test_report_files_and_series(report, flow_lines) -> None:
    out, charts = report
    page = (out / "report.html").read_text()
    names = ["verdicts", "drops", "talkers", "dns_errors", "http_errors", "http_latency",
             "service_map"]  # fmt: skip
    assert [c.name for c in charts] == names
    for name in names:
        png = (out / "png" / f"{name}.png").read_bytes()
        assert png.startswith(PNG_MAGIC) and len(png) > 5_000
        assert f'<section id="{name}">' in page
    assert page.count('src="data:image/png;base64,') == len(names)
    # offline: nothing is fetched from anywhere
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)

    flows = [d["flow"] for d in unique_flows(flow_lines["real"] + flow_lines["synthetic"])
             if "flow" in d]  # fmt: skip
    verdicts = next(c for c in charts if c.name == "verdicts").series
    shown = {v: sum(y for _, y in points) for v, points in verdicts.items()}
    assert shown == Counter(f.get("verdict", "VERDICT_UNKNOWN") for f in flows)
    for verdict in shown:
        assert f'data-series="{verdict}"' in page
    drops = dict(next(c for c in charts if c.name == "drops").series["drops"])
    assert drops["POLICY_DENIED"] == sum(
        1 for f in flows if f.get("drop_reason_desc") == "POLICY_DENIED"
    )


def test_since_keeps_later_days_only(built_lake: tuple[Lake, list], tmp_path: Path) -> None:
    lake, _ = built_lake
    charts = write_hubble_report(lake, TENANT, tmp_path / "r.html", since=SYNTHETIC_DAY)
    hours = [h for pts in charts[0].series.values() for h, _ in pts]
    assert hours and min(hours).date().isoformat() == SYNTHETIC_DAY


def test_report_needs_built_models(tmp_path: Path) -> None:
    from loglake.config import load_settings

    lake = Lake.open(load_settings(lake=str(tmp_path / "empty")))
    with pytest.raises(ValueError, match="run `loglake models build` first"):
        write_hubble_report(lake, TENANT, tmp_path / "r.html")


def test_headless_browser_renders_the_report(report, tmp_path: Path) -> None:
    candidates = ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
    browser = next((b for b in candidates if b and Path(b).exists()), None)
    if browser is None:
        pytest.skip("Chromium is not installed")
    out, _ = report
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
         "--window-size=1200,3000", (out / "report.html").as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert shot.read_bytes().startswith(PNG_MAGIC)
