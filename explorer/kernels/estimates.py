"""What φ(x)·φ(y) estimates, for each feature map under each projection.

With rows w ~ N(0, I_d) (iid or block-orthogonal with chi(d) norms) the unbiased maps estimate
the softmax kernel exp(x·y) (Performer Lemma 1; FAVOR++). Rows of fixed norm √d (uniform on the
sphere √d·S^{d−1}) estimate other kernels, because E[e^{w·z}] = ₀F₁(; d/2; d|z|²/4) there
instead of e^{|z|²/2} (the sphere's moment generating function): positive and hyperbolic
features estimate the regularized softmax kernel SMREG (Performer Sec. 2.3, Theorem 1: below
exp(x·y), within 1 − O(d^{−1/3})), biased for exp(x·y); FAVOR# (saderf) is OPRF on rebalanced
inputs, hybrid mixes the sphere kernels of positive and trig features with the exact weight
θ/π (sign features are scale-free). ReLU features are degree-2 homogeneous
in w, so they estimate the arc-cosine kernel (Cho & Saul 2009) under every projection here;
taylor2 is deterministic, 1 + x·y + (x·y)²/2 (the softmax kernel's second-order Taylor series);
hedgehog's kernel is whatever its fit to the head learned (W only initialises it).
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.kernels.feature_maps import get_feature_map
from explorer.kernels.projections import get_projection


@dataclass(frozen=True, kw_only=True)
class EstimatedKernel:
    """The kernel a (feature map, projection) pair estimates, and whether that is softmax."""

    name: str  # short name: "softmax", "regularized softmax (SMREG)", ...
    formula: str  # the kernel as a plain-text formula in x, y (x = q·√scale)
    unbiased_for_softmax: bool  # E[φ(x)·φ(y)] = exp(x·y)
    summary: str  # one line for captions and the JSON

    @property
    def label(self) -> str:
        return self.summary


SOFTMAX = "exp(x·y)"
_SPHERE = {  # (map) → the kernel rows of norm √d estimate, with ₀F₁ the hypergeometric limit
    "positive": "e^{−(|x|²+|y|²)/2} · ₀F₁(; d/2; d|x+y|²/4)",
    "hyperbolic": "e^{−(|x|²+|y|²)/2} · ₀F₁(; d/2; d|x+y|²/4)",
    "trig": "e^{(|x|²+|y|²)/2} · ₀F₁(; d/2; −d|x−y|²/4)",
    "oprf": "(1−4A)^{d/2} e^{2Ad} e^{−(|x|²+|y|²)/2} · ₀F₁(; d/2; d(1−4A)|x+y|²/4)",
    "saderf": "the oprf kernel of x' = Ψx, y' = Ψ⁻¹y (|x'|, |x'+y'| in place of |x|, |x+y|)",
    "hybrid": "(θ/π)·SMREG + (1 − θ/π)·(the trig kernel above), θ = ∠(x, y)",
}
_SUBSTITUTES = {
    "relu": (
        "arc-cosine kernel",
        "|x||y|(sin θ + (π − θ) cos θ)/(2π), θ = ∠(x, y)",
    ),
    "elu_plus_one": ("elu+1 dot product", "(elu(x) + 1)·(elu(y) + 1), deterministic"),
    "taylor2": ("second-order Taylor kernel", "1 + x·y + (x·y)²/2, deterministic"),
    "hedgehog": (
        "learned kernel",
        "[softmax(Ax+b), softmax(−Ax−b)] of x and y, A and b fitted to this head's attention "
        "on its even query rows (held-out odd rows evaluated)",
    ),
}


def estimated_kernel(feature_map: str, projection: str) -> EstimatedKernel:
    """The kernel that ``feature_map`` features on ``projection`` rows estimate."""
    fmap, proj = get_feature_map(feature_map), get_projection(projection)
    if fmap.kernel == "substitute":
        name, formula = _SUBSTITUTES.get(fmap.name, (f"{fmap.name} kernel", "see its docstring"))
        return EstimatedKernel(
            name=name,
            formula=formula,
            unbiased_for_softmax=False,
            summary=f"{name} {formula}: a substitute kernel, not softmax",
        )
    if proj.gaussian_marginals:
        caveat = ""
        if fmap.name == "hybrid" and proj.directions != "independent":
            # its sign rows must be independent of its base rows: other blocks (``hybrid``)
            caveat = " when m > d (with m ≤ d the coupled rows bias it)"
        return EstimatedKernel(
            name="softmax",
            formula=SOFTMAX,
            unbiased_for_softmax=True,
            summary=f"unbiased estimator of the softmax kernel exp(x·y){caveat}",
        )
    formula = _SPHERE[fmap.name]
    name = (
        "regularized softmax (SMREG)"
        if fmap.name in ("positive", "hyperbolic")
        else ("regularized kernel")
    )
    return EstimatedKernel(
        name=name,
        formula=formula,
        unbiased_for_softmax=False,
        summary=f"{name} {formula}: biased for exp(x·y) (rows of norm √d)",
    )
