"""The paper-figure presets: tables of the right shape and content (tiny sizes)."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.figures import presets as figures
from explorer.figures.paper import fig2_key_numbers, fig2_table
from explorer.theory.closed_forms import trig_positive_ratio


def test_fig2_is_the_closed_form_on_the_paper_grid():
    table = fig2_table("quick")
    assert list(table.columns) == ["angle", "length", "ratio", "log10_ratio"]
    assert len(table) == 25 * 17 and np.isclose(table["length"], 1.0).any()
    finite = table[np.isfinite(table["ratio"])]
    np.testing.assert_allclose(finite["ratio"], trig_positive_ratio(finite.angle, finite.length))
    crossing = fig2_key_numbers(table)["crossing angle at l=1 (r = 1)"]
    assert trig_positive_ratio(crossing, 1.0) > 1 > trig_positive_ratio(crossing - 0.3, 1.0)
    with pytest.raises(ValueError, match="no input scale"):
        figures.figure_table("fig2", size="quick", scale=0.5)
    with pytest.raises(ValueError, match="unknown figure"):
        figures.figure_table("fig9")
    with pytest.raises(ValueError, match="unknown size"):
        figures.figure_table("fig4", size="huge")
