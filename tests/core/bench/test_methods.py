"""The benchmark's methods compute the same attention; the registry is complete.

No timing is asserted anywhere: benchmarks are not tests. Checked in float64 on the CPU:
naive = SDPA (both exact), performer-pytorch given our W = our FAVOR+ once its eps is switched
off (and within its eps bias as shipped), the roofline runs.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch

from explorer.attention.linear import linear_attention
from explorer.bench.methods import METHODS, Unavailable, make_method, performer_attention
from explorer.bench.spec import BenchSpec, make_inputs
from explorer.kernels.feature_maps import positive_features
from explorer.reference.metrics import relative_error

SMALL = dict(heads=2, head_dim=16, num_features=64, dtype="float64")
FLOAT64 = 1e-10  # float64 sums of ≤ 100 terms: rounding is ~1e-15, far below this


def outputs(spec: BenchSpec, names) -> dict[str, torch.Tensor]:
    q, k, v, w = make_inputs(spec)
    return {name: make_method(name, spec, q, k, v, w)() for name in names}


@pytest.mark.parametrize("causal", [False, True])
def test_exact_methods_agree_and_favor_matches_the_unfused_path(causal):
    spec = BenchSpec(seq_len=96, causal=causal, **SMALL)
    got = outputs(spec, ["sdpa", "naive", "favor", "compare", "compare_sampled"])
    torch.testing.assert_close(got["naive"], got["sdpa"], atol=FLOAT64, rtol=FLOAT64)
    # compare computes in float64 here but hands its outputs back as float32 arrays.
    torch.testing.assert_close(got["compare"].double(), got["sdpa"], atol=1e-6, rtol=1e-6)
    # Its sampled variant computes Y with SDPA's own kernel (L = 96 < 1024: every row).
    sampled = got["compare_sampled"].double()
    torch.testing.assert_close(sampled, got["sdpa"], atol=1e-6, rtol=1e-6)
    q, k, v, w = make_inputs(spec)
    root = (1.0 / math.sqrt(spec.head_dim)) ** 0.5  # x = q·√scale, scale = 1/√d
    unfused = linear_attention(positive_features(q * root, k * root, w), v, causal=causal)
    torch.testing.assert_close(got["favor"], unfused.output, atol=FLOAT64, rtol=FLOAT64)
    # FAVOR+ approximates: at σ = 0.35, d = 16, m = 64 the output error is about 0.1.
    assert 0 < relative_error(got["favor"], got["sdpa"]) < 0.3


@pytest.mark.parametrize("causal", [False, True])
def test_performer_pytorch_with_our_projection(causal, monkeypatch):
    pytest.importorskip("performer_pytorch", exc_type=ImportError)
    import performer_pytorch.performer_pytorch as pp

    spec = BenchSpec(seq_len=96, causal=causal, input_scale=0.2, **SMALL)
    got = outputs(spec, ["favor", "performer_pytorch"])
    # As shipped, its features are ratio·(exp(·) + 1e-4): a bias of order 1e-4 relative here.
    assert relative_error(got["performer_pytorch"], got["favor"]) < 1e-3
    # Without that eps (and the 1e-6 of its causal normaliser) it is the same estimator.
    monkeypatch.setattr(pp, "softmax_kernel", functools.partial(pp.softmax_kernel, eps=0.0))
    q, k, v, w = make_inputs(spec)
    module = performer_attention(q, w, causal=causal)
    if causal:
        module.causal_linear_fn = functools.partial(pp.causal_linear_attention_noncuda, eps=0.0)
    with torch.no_grad():
        torch.testing.assert_close(module(q, k, v), got["favor"], atol=FLOAT64, rtol=1e-9)


def test_roofline_runs_and_unavailable_methods_say_why():
    for causal in (False, True):
        spec = BenchSpec(seq_len=100, causal=causal, **SMALL)  # 100: partial blocks
        q, k, v, w = make_inputs(spec)
        assert make_method("roofline", spec, q, k, v, w)() is None
    spec = BenchSpec(seq_len=64, naive_max_bytes=1, **SMALL)
    with pytest.raises(Unavailable, match="GiB"):
        make_method("naive", spec, *make_inputs(spec))
    with pytest.raises(ValueError, match="unknown method"):
        make_method("flash", spec, *make_inputs(spec))


def test_method_registry_is_complete_and_read_only():
    assert set(METHODS) == {
        "sdpa",
        "naive",
        "favor",
        "performer_pytorch",
        "roofline",
        "compare",
        "compare_sampled",
    }
    assert [name for name, m in METHODS.items() if m.exact] == [
        "sdpa",
        "naive",
        "compare",
        "compare_sampled",
    ]
    with pytest.raises(TypeError):
        METHODS["new"] = METHODS["sdpa"]  # type: ignore[index]
