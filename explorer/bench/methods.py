"""The benchmarked attention implementations, on one shared input, and their peak memory.

Methods (all map q, k, v (b, h, l, d) to (b, h, l, e) on the same device and dtype):
  sdpa               torch.nn.functional.scaled_dot_product_attention (exact, never L×L on CPU)
  naive              softmax(QKᵀ/√d + mask)V with the whole L×L matrix (exact)
  favor              our FAVOR+, ``explorer.attention.linear.favor_attention`` (Performer Lemma 1)
  performer_pytorch  lucidrains' ``FastAttention`` given our W (its eps = 1e-4 aside, the same
                     estimator); optional, from requirements-bench.txt
  roofline           only the matrix products favor does, same shapes and blocks, no exp,
                     no reductions, no copies: the time favor cannot beat (returns no output)
  compare            the explorer's own comparison, ``explorer.compare`` without display maps
                     (φ, linear attention, and one fused pass for the exact output and every
                     error metric); returns its exact output, so vs_sdpa shows it is exact
  compare_sampled    the same with the attention-matrix metrics on ``SAMPLED_ROWS`` query rows
                     per head (``row_sample``; output errors still over every row)
Peak memory is measured in a fresh child process per method: CPU peak RSS above the RSS just
before the call (Linux VmHWM reset by /proc/self/clear_refs, else ru_maxrss), CUDA
``max_memory_allocated`` above the allocation before it.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import math
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from explorer.attention.favor import favor_attention, favor_chunk
from explorer.device import DTYPES, compute_dtype, resolve_device
from explorer.experiments.compare import ExperimentConfig, compare
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.kernels.projections import draw_projection
from explorer.streams import stream

METHODS = ("sdpa", "naive", "favor", "performer_pytorch", "roofline", "compare", "compare_sampled")
SAMPLED_ROWS = 1024  # query rows per head of compare_sampled
NAIVE_MAX_BYTES = 4 * 2**30  # naive attention is skipped above this L×L footprint


class Unavailable(Exception):
    """A method that cannot run here (not installed, too big): the row keeps the reason."""


@dataclass(frozen=True)
class BenchSpec:
    """One benchmark input: q, k ~ σ·N(0, 1), v ~ N(0, 1), W orthogonal, all from seeds."""

    seq_len: int
    causal: bool = False
    batch: int = 1
    heads: int = 8
    head_dim: int = 64
    num_features: int = 256
    dtype: str = "float32"
    device: str = "cpu"
    input_scale: float = 0.35
    seed: int = 0
    naive_max_bytes: int = NAIVE_MAX_BYTES


def make_inputs(spec: BenchSpec) -> tuple[torch.Tensor, ...]:
    """q, k, v (b, h, l, d) in the spec's dtype on its device, and W (m, d) in compute dtype."""
    device, dtype = resolve_device(spec.device), DTYPES[spec.dtype]
    generator = stream("bench_data", spec.seed).generator()
    shape = (spec.batch, spec.heads, spec.seq_len, spec.head_dim)

    def draw(scale: float) -> torch.Tensor:
        values = torch.from_numpy(generator.standard_normal(shape, dtype=np.float32))
        return values.mul_(scale).to(device=device, dtype=dtype)

    q, k, v = draw(spec.input_scale), draw(spec.input_scale), draw(1.0)
    w = draw_projection(
        "orthogonal", spec.num_features, spec.head_dim, stream=stream("features", spec.seed)
    )
    return q, k, v, w.to(device=device, dtype=compute_dtype(dtype))


def naive_attention(q, k, v, *, causal: bool) -> torch.Tensor:
    """softmax(QKᵀ/√d + mask)V with the whole (…, l, l) score matrix in memory."""
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))  # (b, h, l, l)
    if causal:
        hidden = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).triu(1)
        scores.masked_fill_(hidden, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def performer_attention(q, w, *, causal: bool) -> Callable[..., torch.Tensor]:
    """performer-pytorch's FastAttention with its projection replaced by our W."""
    try:
        from performer_pytorch import FastAttention
    except Exception as error:  # ImportError, or a broken optional dependency
        raise Unavailable(f"performer-pytorch not installed ({type(error).__name__})") from None
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a note about its CUDA kernel
        module = FastAttention(q.shape[-1], nb_features=w.shape[0], causal=causal)
    module.to(device=q.device, dtype=w.dtype)
    module.projection_matrix.copy_(w)
    return module


def favor_products(q, k, v, w, *, causal: bool) -> Callable[[], None]:
    """The roofline: favor's matrix products (same shapes, blocks, out= buffers), nothing else."""
    b, h, l, d = q.shape
    n, s, e, m, dtype = b * h, k.shape[-2], v.shape[-1], w.shape[0], w.dtype
    c = min(favor_chunk(q.device, causal), max(l, s))
    x = q.reshape(n, l, d).to(dtype)
    y1 = torch.cat([k, k.norm(dim=-1, keepdim=True)], -1).reshape(n, s, d + 1).to(dtype)
    v1 = torch.cat([v, torch.ones_like(v[..., :1])], -1).reshape(n, s, e + 1).to(dtype)
    w_q, w_k = w.T.contiguous(), torch.cat([w.T, w.T[:1]]).contiguous()  # (d, m), (d + 1, m)
    flat = torch.empty(4, n * c * max(m, c, e + 1), dtype=dtype, device=q.device)
    state = torch.zeros(n, m, e + 1, dtype=dtype, device=q.device)

    def front(i: int, *shape: int) -> torch.Tensor:  # contiguous, like favor's reused buffers
        return flat[i, : math.prod(shape)].view(shape)

    def run() -> None:
        for a in range(0, 0 if causal else s, c):
            r = min(s, a + c) - a
            fk = torch.matmul(y1[:, a : a + r], w_k, out=front(0, n, r, m))
            state.baddbmm_(fk.transpose(-2, -1), v1[:, a : a + r])
        for a in range(0, l, c):
            r = min(l, a + c) - a
            fq = torch.matmul(x[:, a : a + r], w_q, out=front(1, n, r, m))
            both = torch.bmm(fq, state, out=front(2, n, r, e + 1))
            if causal:
                fk = torch.matmul(y1[:, a : a + r], w_k, out=front(0, n, r, m))
                within = torch.bmm(fq, fk.transpose(-2, -1), out=front(3, n, r, r))
                both.baddbmm_(within, v1[:, a : a + r])
                state.baddbmm_(fk.transpose(-2, -1), v1[:, a : a + r])

    return run


def explorer_compare(
    spec: BenchSpec, q, k, v, *, row_sample: int | None = None
) -> Callable[[], torch.Tensor]:
    """``compare`` on q, k, v (b, h, l, d) as (b·h)-head inputs, its W drawn from spec.seed."""

    def heads(t: torch.Tensor) -> np.ndarray:
        return t.reshape(-1, *t.shape[-2:]).cpu().numpy()  # (b·h, l, d)

    inputs = AttentionInputs(heads(q.float()), heads(k.float()), heads(v.float()), name="bench")
    config = ExperimentConfig(
        num_features=spec.num_features,
        seed=spec.seed,
        causal=spec.causal,
        device=str(q.device),
        dtype=spec.dtype,
        row_sample=row_sample,
    )

    def call() -> torch.Tensor:
        exact = compare(config, inputs, with_maps=False).exact_output  # (b·h, l, e)
        return torch.from_numpy(exact).reshape(v.shape).to(v.device)  # (b, h, l, e)

    return call


def make_method(name: str, spec: BenchSpec, q, k, v, w) -> Callable[[], torch.Tensor | None]:
    """A zero-argument call of one method on the given inputs (Unavailable if it cannot run)."""
    causal = spec.causal
    if name == "sdpa":
        return lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    if name == "naive":
        need = 2 * q.shape[0] * q.shape[1] * q.shape[2] * k.shape[2] * q.element_size()
        if need > spec.naive_max_bytes:
            raise Unavailable(f"skipped: the L×L matrices need {need / 2**30:.1f} GiB")
        return lambda: naive_attention(q, k, v, causal=causal)
    if name == "favor":
        return lambda: favor_attention(q, k, v, w, causal=causal).output
    if name == "performer_pytorch":
        module = performer_attention(q, w, causal=causal)

        def call() -> torch.Tensor:
            with torch.no_grad():
                return module(q, k, v)

        return call
    if name == "roofline":
        return favor_products(q, k, v, w, causal=causal)
    if name == "compare":
        return explorer_compare(spec, q, k, v)
    if name == "compare_sampled":
        return explorer_compare(spec, q, k, v, row_sample=SAMPLED_ROWS)
    raise ValueError(f"unknown method {name!r}: use one of {', '.join(METHODS)}")


def _current_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _release_free_memory() -> None:
    """Give malloc's freed blocks back to the OS, so the call cannot reuse them unseen."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # resets VmHWM to the current RSS (Linux ≥ 4.0)
        return True
    except OSError:
        return False


def _peak_rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_peak(spec: BenchSpec, name: str) -> int:
    """Peak bytes one call of ``name`` adds, in this process (run it in a fresh one).

    A call on a short input first maps the code the method runs (shared-library pages count in
    RSS) without leaving big freed blocks behind; then the peak is reset and the real call runs.
    """
    small = replace(spec, seq_len=min(spec.seq_len, 64))
    make_method(name, small, *make_inputs(small))()
    q, k, v, w = make_inputs(spec)
    fn = make_method(name, spec, q, k, v, w)
    if q.device.type == "cuda":
        torch.cuda.synchronize(q.device)
        torch.cuda.reset_peak_memory_stats(q.device)
        before = torch.cuda.memory_allocated(q.device)
        fn()
        torch.cuda.synchronize(q.device)
        return torch.cuda.max_memory_allocated(q.device) - before
    _release_free_memory()
    before = _current_rss()
    reset = _reset_peak_rss()
    fn()
    peak = _peak_rss() if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return max(0, peak - before)


def peak_in_child(spec: BenchSpec, name: str, timeout: float = 900.0) -> int:
    """``measure_peak`` in a fresh interpreter (same torch thread count); ValueError on failure."""
    code = (
        "import json, sys, torch; from explorer.bench.methods import BenchSpec, measure_peak; "
        "a = json.loads(sys.argv[1]); torch.set_num_threads(a['threads']); "
        "print(measure_peak(BenchSpec(**a['spec']), a['name']))"
    )
    payload = json.dumps({"spec": asdict(spec), "name": name, "threads": torch.get_num_threads()})
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code, payload],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ValueError(f"memory child for {name} failed: {last}")
    return int(done.stdout.strip().splitlines()[-1])
