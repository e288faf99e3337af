"""What each attention layer of a Hugging Face model really computes, through its registry.

transformers (≥ 5) calls every attention layer as
``fn(module, query, key, value, attention_mask, scaling=..., **kwargs)`` with fn taken from its
attention-function registry (``AttentionInterface``): the query after rotary embeddings and
q/k norms, key and value with their own (grouped) heads, not repeated, the layer's ``scaling``
(Gemma 2: query_pre_attn_scalar^-1/2, not d^-1/2), ``module.is_causal``, ``sliding_window`` and
``softcap`` in the keyword arguments. One name, ``ATTENTION_NAME``, is registered once per
process together with the matching mask function (without it transformers builds no mask for
an unknown name and decoders silently lose causality). Outside ``recording`` it calls the
model's own eager attention, so the model computes exactly what it would with "eager"; inside,
each call is recorded and, for chosen layers, replaced (``swap``). The state lives in a
``ContextVar``, so threads sharing one cached model (Streamlit sessions) never see each other's
recorder. Shapes: query (b, h, l, d), key/value (b, h_kv, s, d), output (b, l, h, d).
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import torch

ATTENTION_NAME = "explorer_eager"


@dataclass(frozen=True, kw_only=True)
class AttentionCall:
    """One call of one attention layer, as the model's attention function received it."""

    layer: int  # module.layer_idx
    query: torch.Tensor  # (b, h, l, d)
    key: torch.Tensor  # (b, h_kv, s, d)
    value: torch.Tensor  # (b, h_kv, s, e)
    scaling: float  # the factor of q·k the model uses
    causal: bool
    window: int | None  # sliding window: key j visible from query i iff i − w < j ≤ i
    softcap: float | None  # logits t → c·tanh(t/c) (Gemma 2)
    mask: torch.Tensor | None = field(repr=False)  # as passed: None, 4-D bool or additive float
    output: torch.Tensor | None = field(default=None, repr=False)  # (b, l, h, e), if kept

    def detached(self) -> AttentionCall:
        """A copy whose tensors outlive the forward pass."""

        def copy(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.detach().clone()

        return replace(
            self,
            query=copy(self.query),
            key=copy(self.key),
            value=copy(self.value),
            mask=copy(self.mask),
            output=copy(self.output),
        )


Replacement = Callable[[AttentionCall], torch.Tensor]  # call → output (b, l, h, e)


@dataclass(frozen=True)
class _State:
    records: list[AttentionCall] | None
    keep_outputs: bool
    replacement: Replacement | None
    layers: frozenset[int] | None


_STATE: contextvars.ContextVar[_State | None] = contextvars.ContextVar("explorer_attention")


def model_eager(module: torch.nn.Module) -> Callable:
    """The eager attention of the module's own modeling file (its softcap, repeat_kv, casts)."""
    fn = getattr(sys.modules[type(module).__module__], "eager_attention_forward", None)
    if fn is None:
        raise RuntimeError(f"{type(module).__name__} has no eager_attention_forward")
    return fn


def _dispatch(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    state = _STATE.get(None)

    def own() -> tuple[torch.Tensor, torch.Tensor | None]:
        fn = model_eager(module)
        return fn(
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
        )

    if state is None:
        return own()
    call = AttentionCall(
        layer=int(getattr(module, "layer_idx", -1)),
        query=query,
        key=key,
        value=value,
        scaling=float(query.shape[-1] ** -0.5 if scaling is None else scaling),
        causal=bool(kwargs.get("is_causal", getattr(module, "is_causal", False))),
        window=kwargs.get("sliding_window"),
        softcap=kwargs.get("softcap"),
        mask=attention_mask,
    )
    chosen = state.replacement is not None and (state.layers is None or call.layer in state.layers)
    if chosen:
        output, weights = state.replacement(call).to(query.dtype).contiguous(), None
    else:
        output, weights = own()
    if state.records is not None:
        state.records.append(
            replace(call, output=output if state.keep_outputs else None).detached()
        )
    return output, weights


def install() -> str:
    """Register ``ATTENTION_NAME`` and its mask function (idempotent); the name to load with."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(ATTENTION_NAME, _dispatch)
    AttentionMaskInterface.register(ATTENTION_NAME, eager_mask)  # additive float masks
    return ATTENTION_NAME


@contextlib.contextmanager
def recording(
    *,
    records: list[AttentionCall] | None = None,
    keep_outputs: bool = False,
    replacement: Replacement | None = None,
    layers: set[int] | None = None,
) -> Iterator[None]:
    """Within the block, this thread's attention calls are recorded and/or replaced.

    ``replacement(call)`` gives the output of the layers in ``layers`` (None: every layer).
    """
    token = _STATE.set(
        _State(records, keep_outputs, replacement, None if layers is None else frozenset(layers))
    )
    try:
        yield
    finally:
        _STATE.reset(token)


def allowed(call: AttentionCall) -> torch.Tensor:
    """(l, s) True where query i sees key j, from the recorded flags alone (no padding).

    With a cache the queries are the last l positions of s (query i sits at s − l + i).
    """
    l, s = call.query.shape[-2], call.key.shape[-2]
    query = torch.arange(l)[:, None] + (s - l)
    key = torch.arange(s)[None, :]
    ok = torch.ones(l, s, dtype=torch.bool)
    if call.causal:
        ok &= key <= query
    if call.window is not None:
        ok &= key > query - call.window
    return ok


def padding(call: AttentionCall) -> torch.Tensor | None:
    """The passed mask as (b, 1|h, l, s) bool (True: attend), or None."""
    if call.mask is None:
        return None
    if call.mask.dtype == torch.bool:
        return call.mask
    return call.mask > torch.finfo(call.mask.dtype).min / 2
