"""report.html as a person sees it: rendered by a real browser (headless Chromium).

Widths are only known once a browser lays the page out, so this is where "the latency
detail is wider than the page" can be caught. Skipped only where Chromium is absent and
this is not CI (under ``CI=true`` a missing browser is a failure: .ci/run installs it).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

from qatbench.bench.presentation.report import write_report
from tests.bench.presentation.synthetic import HOST_PARTS, cpu_matrix, fingerprinted, results

VIEWPORT = (1280, 2000)

# Appended to a copy of the report: the browser writes what it measured into the title,
# which --dump-dom then prints. Each table's box is named by the section it is in.
PROBE = """<script>
const heading = el => { while (el && el.tagName !== 'H2') el = el.previousElementSibling;
                        return el ? el.textContent : '?'; };
document.title = JSON.stringify({
  page: document.documentElement.scrollWidth, viewport: window.innerWidth,
  tables: document.querySelectorAll('table').length,
  overflowing: [...document.querySelectorAll('.table-wrap')]
    .filter(box => box.scrollWidth > box.clientWidth).map(heading)});
</script>"""


def _browse(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
               "--hide-scrollbars", f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def _widest_report(tmp_path: Path) -> Path:
    """A merged report with every optional column: repeats, noise, a failure, and two
    setups of one target (the widest latency detail a run can produce)."""
    other = {**HOST_PARTS, "cpu_model": "AMD EPYC 7R13 Processor"}
    rows = cpu_matrix(**fingerprinted()) + [
        {**r, **fingerprinted(other), "run_id": "20260102T000000Z-bbbbbb",
         "started_at": "20260102T000000Z", "repeats": 5}
        for r in cpu_matrix(seed=50) if r["target"] == "cpu-xnnpack"]
    rows[0] = {**rows[0], "noisy": True, "delegate": "xnnpack (37 kernels, 16 partitions)"}
    rows[1] = {**rows[1], "status": "failed", "latency_ms_p50": None,
               "error": "delegate crashed"}
    out = tmp_path / "report"
    write_report(results(rows), [], out)
    return out / "report.html"


def test_the_report_fits_the_window_in_a_real_browser(tmp_path: Path, chromium: str) -> None:
    from PIL import Image

    report = _widest_report(tmp_path)
    page = report.read_text()
    assert "<th>K</th>" in page and "<th>setup</th>" in page  # the wide case is rendered

    probe = report.with_name("probe.html")
    probe.write_text(page.replace("</body>", PROBE + "</body>"))
    dom = _browse(chromium, tmp_path / "profile", "--dump-dom", probe.as_uri()).stdout
    measured = json.loads(html.unescape(re.search(r"<title>(.*?)</title>", dom, re.S)[1]))
    assert measured["viewport"] == VIEWPORT[0]
    assert measured["tables"] >= 6
    assert measured["page"] <= measured["viewport"], measured
    assert measured["overflowing"] == [], measured  # every table fits without scrolling

    screenshot = tmp_path / "report.png"
    _browse(chromium, tmp_path / "profile", f"--screenshot={screenshot}", report.as_uri())
    image = Image.open(screenshot).convert("L")
    assert image.size == VIEWPORT
    histogram = image.histogram()
    ink = sum(histogram[:200]) / (image.size[0] * image.size[1])  # text, rules, bars
    assert 0.01 < ink < 0.6, f"screenshot looks blank or black: {ink:.1%} ink"
