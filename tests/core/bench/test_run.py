"""The benchmark's methods compute the same attention; the fast paths equal the plain ones.

No timing is asserted anywhere: benchmarks are not tests. Checked in float64 on the CPU:
naive = SDPA (both exact), our fused FAVOR+ = the unfused ``linear_attention`` of
``positive_features`` (same estimator, same W, so equal to rounding), performer-pytorch given our
W = our FAVOR+ once its eps is switched off (and within its eps bias as shipped), the roofline
runs, and the block-wise metrics equal the whole-matrix ones. GPU checks are marked ``gpu``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from explorer.bench import run as bench
from explorer.bench.methods import make_method
from explorer.bench.spec import BenchSpec, make_inputs
from explorer.kernels.feature_maps import positive_features
from explorer.reference.fused_pass import PassOptions
from explorer.reference.metrics import reference_errors, relative_error, weight_metrics


def outputs(spec: BenchSpec, names) -> dict[str, torch.Tensor]:
    q, k, v, w = make_inputs(spec)
    return {name: make_method(name, spec, q, k, v, w)() for name in names}


def test_plan_validates_and_counts_its_steps():
    plan = bench.BenchPlan(seq_lens=(32, 64), causal_modes=(False, True), methods=("sdpa", "favor"))
    assert plan.steps == 2 * 2 * (1 + 2)
    assert bench.BenchPlan(seq_lens=(32,), memory=False).steps == 1
    with pytest.raises(ValueError, match="unknown method"):
        bench.BenchPlan(methods=("favor", "flash"))


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
