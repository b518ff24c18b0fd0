"""Production material in deployments/: the systemd units pass `systemd-analyze verify` (rendered with this
checkout's paths, so the commands they start exist), and the Grafana dashboard asks only for metrics the engine
exports (engine.monitoring.METRICS; the acceptance test in tests/up checks those against a live scrape)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.monitoring import METRICS

REPO = Path(__file__).resolve().parents[2]
UNITS = sorted((REPO / "deployments" / "systemd").glob("*.service"))


def _render(tmp_path: Path, unit: Path, venv_bin: Path | None = None) -> Path:
    """The unit with /opt/hlmm -> this checkout, /etc/hlmm and /var/lib/hlmm -> temp dirs (they must exist)."""
    (tmp_path / "etc").mkdir(exist_ok=True)
    (tmp_path / "var").mkdir(exist_ok=True)
    (tmp_path / "etc" / "hlmm.env").touch()
    text = unit.read_text().replace("/opt/hlmm/.venv/bin", str(venv_bin or Path(sys.executable).parent))
    text = text.replace("/opt/hlmm", str(REPO)).replace("/etc/hlmm", str(tmp_path / "etc"))
    out = tmp_path / unit.name
    out.write_text(text.replace("/var/lib/hlmm", str(tmp_path / "var")))
    return out


def _verify(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)


def test_systemd_units_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here (Debian package systemd); units not verified")
    assert {u.name for u in UNITS} == {"hlmm-engine.service", "hlmm-prefect-server.service",
                                       "hlmm-prefect-worker.service", "hlmm-recorder.service"}
    for unit in UNITS:
        r = _verify(_render(tmp_path, unit))
        assert r.returncode == 0 and unit.name not in r.stdout + r.stderr, (unit.name, r.stdout + r.stderr)
        text = unit.read_text()
        assert "KillSignal=SIGINT" in text and "Restart=on-failure" in text, unit.name
    # the check can fail: a unit whose program is missing is refused
    (tmp_path / "broken").mkdir()
    r = _verify(_render(tmp_path / "broken", UNITS[0], venv_bin=tmp_path / "no-venv"))
    assert r.returncode != 0 and "not executable" in r.stdout + r.stderr


def test_grafana_dashboard_uses_only_exported_metrics():
    dash = json.loads((REPO / "deployments" / "grafana" / "hlmm-engine.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {re.sub(r"_(bucket|sum|count)$", "", m) for e in exprs for m in re.findall(r"\bhlmm_[a-z_]+", e)}
    assert used and used <= set(METRICS), used - set(METRICS)
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for topic in ("quoting", "fills", "equity", "latency", "rate-limit"):
        assert topic in titles, topic


def test_every_metric_is_documented():
    doc = (REPO / "docs" / "operations.md").read_text()
    missing = [name for name in METRICS if f"| `{name}` |" not in doc]
    assert missing == [], f"metrics missing from docs/operations.md: {missing}"
