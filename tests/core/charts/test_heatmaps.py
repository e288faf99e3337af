"""Figure builders: the plotted numbers are the results' numbers, in float32."""

from __future__ import annotations

import numpy as np

from explorer.charts.heatmaps import attention_heatmaps
from explorer.reference.display_maps import AttentionMaps


def maps(negative: bool = False, pool=(1, 1)) -> AttentionMaps:
    rng = np.random.default_rng(0)
    exact = rng.dirichlet(np.ones(5), size=(2, 4))  # (h, l, s) rows sum to 1
    approx = exact + (0.1 * rng.normal(size=exact.shape) if negative else 0.01)
    negative = int((approx < 0).sum())
    return AttentionMaps(exact=exact, approx=approx, pool=pool, negative_entries=negative)


def test_heatmaps_share_a_scale_and_mark_negatives():
    m = maps(negative=True)
    fig = attention_heatmaps(m, 1, query_tokens=list("abcd"), key_tokens=list("vwxyz"))
    exact, approx, diff = (trace for trace in fig.data)
    np.testing.assert_allclose(exact.z, m.exact[1].astype(np.float32))
    np.testing.assert_allclose(diff.z, (m.approx[1] - m.exact[1]).astype(np.float32), atol=1e-7)
    assert exact.zmin == approx.zmin < 0 and exact.zmax == approx.zmax
    assert diff.zmin == -diff.zmax  # diverging scale centred on 0
    assert list(exact.x) == ["0:v", "1:w", "2:x", "3:y", "4:z"]
    assert "negative" in fig.layout.title.text
    assert np.asarray(exact.z).dtype == np.float32


def test_pooled_maps_say_so_and_drop_token_labels():
    fig = attention_heatmaps(maps(pool=(4, 4)), 0, query_tokens=list("abcd"))
    assert "downsampled" in fig.layout.title.text and fig.data[0].y is None


def test_uploaded_strings_are_escaped_in_charts():
    m = maps()
    fig = attention_heatmaps(
        m, 0, key_tokens=["<a href='x'>", "b", "c", "d", "e"], title="<img src=x onerror=alert(1)>"
    )
    assert fig.data[0].x[0] == "0:&lt;a href=&#x27;x&#x27;&gt;"
    assert "<img" not in fig.layout.title.text
