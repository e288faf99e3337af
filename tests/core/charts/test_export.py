"""Static export: a note (not an error) without a browser; images from a shared, thread-safe one."""

from __future__ import annotations

import re
import threading

import plotly.graph_objects as go
import pytest

from explorer.charts import export
from explorer.charts.export import ImageExporter, static_export_problem
from explorer.charts.style import finish

needs_browser = pytest.mark.skipif(
    static_export_problem() is not None, reason=str(static_export_problem())
)


def tick_labels(svg: str, axis: str = "ytick") -> list[str]:
    """The tick labels of an exported SVG (superscripts joined, zero-width spaces dropped)."""
    groups = re.findall(rf'<g class="{axis}">(.*?)</g>', svg)
    return [re.sub(r"<[^>]+>", "", g).replace("\u200b", "") for g in groups]


def test_without_a_browser_the_problem_is_named(monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    problem = static_export_problem()
    if problem is not None and "kaleido" in problem:
        pytest.skip(problem)
    assert "Chromium" in problem and "BROWSER_PATH" in problem
    with pytest.raises(RuntimeError, match="Chromium"):
        ImageExporter().image(go.Figure(), "png")  # a clear error, and nothing launched


def test_without_kaleido_the_problem_is_named(monkeypatch):
    monkeypatch.setattr(export.importlib.util, "find_spec", lambda name: None)
    assert "pip install kaleido" in static_export_problem()


def test_unknown_formats_are_refused():
    with pytest.raises(ValueError, match="png, svg, pdf"):
        ImageExporter().image(go.Figure(), "eps")


@needs_browser
def test_png_svg_and_pdf_of_one_browser_with_exponent_ticks():
    fig = finish(go.Figure(go.Scatter(x=[1, 2, 3], y=[1e-6, 1e-4, 1e-2])))
    fig.update_yaxes(type="log")
    with ImageExporter() as exporter:
        png, svg, pdf = (exporter.image(fig, fmt) for fmt in ("png", "svg", "pdf"))
        exporter.close()  # closed: the next image starts a new browser
        again = exporter.image(fig, "png", scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and again[:8] == png[:8]
    assert pdf[:5] == b"%PDF-"
    labels = tick_labels(svg.decode())
    assert "10−6" in labels and "10−4" in labels, labels  # 10⁻⁶: the exponent a superscript
    assert not any(prefix in label for label in labels for prefix in "µμmk"), labels


@needs_browser
def test_concurrent_callers_each_get_their_own_image():
    """kaleido's shared sync server handed images to the wrong callers: this one must not."""
    results: dict[tuple[int, int], bool] = {}
    with ImageExporter() as exporter:

        def work(caller: int) -> None:
            fig = go.Figure(go.Scatter(y=[caller]), layout={"title": f"caller {caller}"})
            fig.update_layout(width=300 + 10 * caller, height=200)
            for call in range(2):
                svg = exporter.image(fig, "svg", scale=1).decode()
                results[caller, call] = (
                    f"caller {caller}<" in svg and f'width="{300 + 10 * caller}"' in svg
                )

        threads = [threading.Thread(target=work, args=(i,)) for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert len(results) == 10 and all(results.values()), results
