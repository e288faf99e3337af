"""The benchmark's methods compute the same attention; the fast paths equal the plain ones.

No timing is asserted anywhere: benchmarks are not tests. Checked in float64 on the CPU:
naive = SDPA (both exact), our fused FAVOR+ = the unfused ``linear_attention`` of
``positive_features`` (same estimator, same W, so equal to rounding), performer-pytorch given our
W = our FAVOR+ once its eps is switched off (and within its eps bias as shipped), the roofline
runs, and the block-wise metrics equal the whole-matrix ones. GPU checks are marked ``gpu``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from explorer.attention.exact import exact_weights
from explorer.attention.favor import favor_attention
from explorer.attention.linear import approximate_weights, linear_attention
from explorer.bench import run as bench
from explorer.bench.memory import peak_in_child
from explorer.bench.methods import METHODS, Unavailable, make_method, performer_attention
from explorer.bench.report import crossover, format_table
from explorer.bench.spec import BenchSpec, make_inputs
from explorer.kernels.feature_maps import get_feature_map, positive_features
from explorer.kernels.projections import draw_projection
from explorer.reference.fused_pass import PassOptions
from explorer.reference.metrics import reference_errors, relative_error, weight_metrics
from explorer.streams import stream
from tests.conftest import gaussian

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
@pytest.mark.parametrize("l, s", [(40, 40), (33, 40), (40, 27)])
@pytest.mark.parametrize("chunk", [1, 7, None])
def test_fused_favor_equals_linear_attention(causal, l, s, chunk):
    # Broadcast batch dims, cross-attention both ways, partial last blocks, a σ where the key
    # max moves from block to block (the running shift is exercised).
    g = torch.Generator().manual_seed(31)
    q, k = gaussian(2, 3, l, 6, generator=g, scale=0.9), gaussian(1, 3, s, 6, generator=g)
    v = gaussian(1, 3, s, 4, generator=g)
    w = draw_projection("orthogonal", 24, 6, stream=stream("features", 0))
    ref = linear_attention(positive_features(q * 0.5, k * 0.5, w), v, causal=causal)
    got = favor_attention(q, k, v, w, causal=causal, scale=0.25, chunk_size=chunk)
    torch.testing.assert_close(got.output, ref.output, atol=FLOAT64, rtol=FLOAT64)
    if not causal:  # causal normalisers are in favor's own running units (a per-row factor)
        torch.testing.assert_close(got.normalizer, ref.normalizer, atol=0, rtol=1e-9)
    assert (got.negative_rows, got.small_rows) == (ref.negative_rows, ref.small_rows) == (0, 0)
    assert bool((got.normalizer > 0).all())


@pytest.mark.parametrize("causal", [False, True])
def test_fused_favor_keeps_tiny_positive_normalisers_like_linear_attention(causal):
    # W = I: the second query's features sit on w₁ and the key's on w₂, with e^{-20} across.
    # Positive features cannot cancel, so that row is exact (one key: ŷ = v), not zeroed.
    q = torch.tensor([[[0.5, 0.0], [10.0, -10.0]]], dtype=torch.float64)
    k = torch.tensor([[[-10.0, 10.0]]], dtype=torch.float64)
    v = torch.tensor([[[1.0]]], dtype=torch.float64)
    w = torch.eye(2, dtype=torch.float64)
    ref = linear_attention(positive_features(q, k, w), v, causal=causal)
    got = favor_attention(q, k, v, w, causal=causal, scale=1.0)
    assert got.small_rows == ref.small_rows == 0
    torch.testing.assert_close(got.output, torch.ones(1, 2, 1, dtype=torch.float64))
    torch.testing.assert_close(got.output, ref.output, atol=FLOAT64, rtol=FLOAT64)


def test_fused_favor_recomputes_underflowed_causal_rows():
    # The log-domain case of test_linear: float32, large early keys and a zero last key, so the
    # early rows' products underflow; favor's running shift must agree with linear_attention.
    g = torch.Generator().manual_seed(5)
    q, k = gaussian(1, 12, 4, generator=g, scale=8.0), gaussian(1, 12, 4, generator=g, scale=8.0)
    k[0, -1] = 0.0
    v = gaussian(1, 12, 3, generator=g)
    w = draw_projection("iid", 16, 4, stream=stream("features", 0))
    ref = linear_attention(
        positive_features(q.float(), k.float(), w.float()), v.float(), causal=True
    )
    got = favor_attention(q.float(), k.float(), v.float(), w.float(), causal=True, scale=1.0)
    torch.testing.assert_close(got.output, ref.output, atol=1e-5, rtol=1e-4)


def test_fused_favor_half_inputs_compute_in_float32():
    g = torch.Generator().manual_seed(32)
    q, k, v = (gaussian(1, 2, 64, 16, generator=g, scale=0.35) for _ in range(3))
    w = draw_projection("orthogonal", 32, 16, stream=stream("features", 0)).float()
    for dtype in (torch.bfloat16, torch.float16):
        half = [t.to(dtype) for t in (q, k, v)]
        got = favor_attention(*half, w, causal=True)
        assert got.output.dtype == torch.float32 and torch.isfinite(got.output).all()
        same = favor_attention(*(t.float() for t in half), w, causal=True)
        torch.testing.assert_close(got.output, same.output)  # the cast is the only difference


def test_fused_favor_bad_arguments():
    a = torch.ones(1, 4, 3)
    with pytest.raises(ValueError, match="projection"):
        favor_attention(a, a, a, torch.ones(5, 2))
    with pytest.raises(ValueError, match="chunk_size"):
        favor_attention(a, a, a, torch.ones(5, 3), chunk_size=-1)
    with pytest.raises(ValueError, match="lengths differ"):
        favor_attention(a, a, torch.ones(1, 5, 3), torch.ones(5, 3))


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


def explicit_metrics(x, y, features, causal):
    """The whole l×s matrices, with the definitions written out in numpy."""
    p = exact_weights(x, y, causal=causal, scale=1.0).numpy().reshape(-1, y.shape[-2])
    p_hat = approximate_weights(features, causal=causal).numpy().reshape(p.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(np.where(p_hat > 0, p_hat, 1))), 0.0)
    ok = np.all((p_hat > 0) | (p == 0), axis=-1)
    return {
        "weights_relative_error": np.linalg.norm(p_hat - p) / np.linalg.norm(p),
        "max_abs_error": np.abs(p_hat - p).max(),
        "row_tv": 0.5 * np.abs(p_hat - p).sum(-1),
        "row_kl": np.where(ok, terms.sum(-1), np.inf),
    }


@pytest.mark.parametrize("name", ["positive", "trig"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("l, s", [(30, 30), (23, 30), (30, 17)])
def test_chunked_metrics_equal_unchunked(name, causal, l, s):
    g = torch.Generator().manual_seed(33)
    x, y = gaussian(2, l, 6, generator=g, scale=0.6), gaussian(2, s, 6, generator=g, scale=0.6)
    w = draw_projection("iid", 8, 6, stream=stream("features", 0))
    features = get_feature_map(name)(x, y, w)
    whole = weight_metrics(x, y, features, PassOptions(causal=causal, memory_budget=2**40))
    for budget in (1, 3000):  # one row per block; a few rows per block
        part = weight_metrics(x, y, features, PassOptions(causal=causal, memory_budget=budget))
        for key, value in whole.items():  # blocks change only the rounding of row sums
            if value is None:  # no row with a defined KL
                assert part[key] is None, key
                continue
            np.testing.assert_allclose(part[key], value, rtol=1e-10, atol=1e-15, err_msg=key)
    ref = explicit_metrics(x, y, features, causal)
    for key, value in ref.items():
        np.testing.assert_allclose(np.asarray(whole[key]).ravel(), value, rtol=1e-9, atol=1e-14)


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


def test_plan_validates_and_counts_its_steps():
    plan = bench.BenchPlan(seq_lens=(32, 64), causal_modes=(False, True), methods=("sdpa", "favor"))
    assert plan.steps == 2 * 2 * (1 + 2)
    assert bench.BenchPlan(seq_lens=(32,), memory=False).steps == 1
    with pytest.raises(ValueError, match="unknown method"):
        bench.BenchPlan(methods=("favor", "flash"))


def test_crossover_and_table_from_rows():
    def row(method, length, seconds):
        return bench.BenchRow(
            method=method,
            seq_len=length,
            causal=False,
            seconds=seconds,
            peak_bytes=2**20,
            repeats=3,
            vs_sdpa=None,
            batch=1,
            heads=8,
            head_dim=64,
            num_features=256,
            dtype="float32",
            device="cpu",
        )

    times = {512: (1.0, 2.0), 1024: (2.0, 1.0), 2048: (3.0, 1.0)}  # (sdpa, favor)
    rows = [row(m, n, t[i]) for n, t in times.items() for i, m in enumerate(["sdpa", "favor"])]
    first, where = crossover(rows, causal=False)
    assert first == 1024 and where == pytest.approx(724.08, rel=1e-3)  # 512·√2: ratios 2 and ½
    assert "crossover: favor faster than sdpa from L = 1024" in format_table(rows)


def test_peak_memory_child_reports_bytes():
    peak = peak_in_child(BenchSpec(seq_len=64, heads=1, head_dim=8, num_features=16), "favor")
    assert isinstance(peak, int) and peak >= 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("causal", [False, True])
def test_gpu_paths_equal_cpu(causal):
    cpu = BenchSpec(seq_len=300, causal=causal, heads=2, head_dim=16, num_features=64)
    gpu = replace(cpu, device="cuda")
    want, got = outputs(cpu, ["sdpa", "favor"]), outputs(gpu, ["sdpa", "favor", "roofline"])
    for name in ("sdpa", "favor"):
        torch.testing.assert_close(got[name].cpu(), want[name], atol=1e-5, rtol=1e-4)
    for dtype in ("float16", "bfloat16"):
        out = outputs(replace(gpu, dtype=dtype), ["favor"])["favor"]
        assert torch.isfinite(out).all() and relative_error(out.cpu(), want["favor"]) < 0.05
    q, k, v, w = (t.double() for t in make_inputs(cpu))
    x, y = q[0] * 0.5, k[0] * 0.5
    features = positive_features(x, y, w)
    gpu_features = positive_features(x.cuda(), y.cuda(), w.cuda())
    on_cpu = weight_metrics(x, y, features, PassOptions(causal=causal))
    on_gpu = weight_metrics(x.cuda(), y.cuda(), gpu_features, PassOptions(causal=causal))
    for key in ("weights_relative_error", "row_tv_mean", "row_kl_mean", "max_abs_error"):
        assert on_gpu[key] == pytest.approx(on_cpu[key], rel=1e-9), key
    # The whole comparison on the GPU (one fused pass with maps, unbounded block cap there).
    got_compare = outputs(gpu, ["compare"])["compare"]
    torch.testing.assert_close(got_compare, want["sdpa"], atol=1e-5, rtol=1e-4)
    pooled = [
        reference_errors(*args, None, PassOptions(causal=causal, max_side=64)).maps
        for args in (
            (x, y, v[0], features),
            (x.cuda(), y.cuda(), v[0].cuda(), gpu_features),
        )
    ]
    np.testing.assert_allclose(pooled[1].exact, pooled[0].exact, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(pooled[1].approx, pooled[0].approx, rtol=1e-5, atol=1e-7)
