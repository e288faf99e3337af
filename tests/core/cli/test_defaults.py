"""One source of truth: the command line's defaults and choices are the config's and registries'."""

from __future__ import annotations

from dataclasses import fields

from explorer.bench.methods import METHODS
from explorer.cli.main import build_parser
from explorer.device import DTYPES
from explorer.experiments.config import DEFAULTS
from explorer.figures.presets import FIGURES
from explorer.inputs.synthetic import SYNTHETIC_KINDS
from explorer.kernels.feature_maps import FEATURE_MAPS
from explorer.kernels.projections import PROJECTIONS

# option dest → ExperimentConfig field it sets
COMPARE_FIELDS = {
    "feature_map": "feature_map",
    "num_features": "num_features",
    "projection": "projection",
    "seed": "seed",
    "causal": "causal",
    "device": "device",
    "dtype": "dtype",
    "seq_len": "seq_len",
    "head_dim": "head_dim",
    "heads": "num_heads",
    "scale": "input_scale",
    "data_seed": "data_seed",
    "data": "data_kind",
}


def _subparser(name: str):
    parser = build_parser()
    actions = {a.dest: a for a in parser._subparsers._group_actions}
    return actions["command"].choices[name]


def test_compare_defaults_are_the_configs():
    args = build_parser().parse_args(["compare", "--synthetic"])
    for dest, field in COMPARE_FIELDS.items():
        assert getattr(args, dest) == getattr(DEFAULTS, field), dest
    assert {f.name for f in fields(DEFAULTS)} >= set(COMPARE_FIELDS.values())


def test_sweep_defaults_are_the_configs():
    args = build_parser().parse_args(["sweep"])
    assert args.feature_maps == [DEFAULTS.feature_map]
    assert args.projections == [DEFAULTS.projection]
    assert args.num_features == [DEFAULTS.num_features]
    assert args.scales == [DEFAULTS.input_scale] and args.seq_lens == [DEFAULTS.seq_len]
    assert args.head_dims == [DEFAULTS.head_dim] and args.dtype == DEFAULTS.dtype


def test_choices_and_help_come_from_the_registries():
    compare = _subparser("compare")
    help_text = " ".join(compare.format_help().split())
    for name in (*FEATURE_MAPS, *PROJECTIONS):
        assert name in help_text
    by_dest = {a.dest: a for a in compare._actions}
    assert list(by_dest["dtype"].choices) == list(DTYPES)
    assert list(by_dest["data"].choices) == list(SYNTHETIC_KINDS)
    bench = " ".join(_subparser("bench").format_help().split())
    assert all(name in bench for name in METHODS)
    figure = {a.dest: a for a in _subparser("figure")._actions}
    assert list(figure["name"].choices) == list(FIGURES)


def test_both_spellings_of_fixed_norm_are_accepted_one_is_documented():
    for spelling in ("fixed_norm", "fixed-norm"):
        args = build_parser().parse_args(["compare", "--synthetic", "--projection", spelling])
        assert args.projection == "fixed_norm"
    help_text = _subparser("compare").format_help()
    assert "fixed_norm" in help_text and "fixed-norm" not in help_text


def test_top_level_help_has_no_raw_markup():
    text = build_parser().format_help()
    assert "``" not in text and "python -m explorer" in text
