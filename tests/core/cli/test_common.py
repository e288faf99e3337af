"""What every command shares: the budget, output files, the umask, JSON without inf."""

from __future__ import annotations

import argparse
import os
import stat

import pytest

from explorer.cli.common import UsageError, budget_from, json_safe, output_path, respect_umask
from explorer.cli.main import main


def test_budget_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_SEQ_LEN", "100")
    budget = budget_from(argparse.Namespace(budget=["max_seq_len=5000", "memory-mb=10"]))
    assert budget.max_seq_len == 5000 and budget.memory_mb == 10
    assert budget_from(argparse.Namespace(budget=[])).max_seq_len == 100
    with pytest.raises(UsageError, match="LIMIT=INTEGER"):
        budget_from(argparse.Namespace(budget=["speed=9"]))
    with pytest.raises(UsageError, match="LIMIT=INTEGER"):
        budget_from(argparse.Namespace(budget=["memory_mb=lots"]))


def test_over_budget_is_one_line_before_any_work(capsys, monkeypatch):
    # Ten million tokens ran for 88 s and were killed by the kernel (24 GB) before the CLI
    # had a budget; now the size is refused before anything is allocated.
    assert main(["compare", "--synthetic", "--seq-len", "10000000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "EXPLORER_MAX_SEQ_LEN" in err[0] and "--budget max_seq_len" in err[0]
    assert main(["compare", "--synthetic", "--seq-len", "65537"]) == 2  # one past the maximum
    assert "65,537 is over the limit of 65,536" in capsys.readouterr().err
    monkeypatch.setenv("EXPLORER_MAX_SEQ_LEN", "64")
    small = ["compare", "--synthetic", "--seq-len", "96", "--head-dim", "8", "--num-features", "8"]
    assert main(small) == 2 and "EXPLORER_MAX_SEQ_LEN" in capsys.readouterr().err
    assert main([*small, "--budget", "max_seq_len=128", "--json"]) == 0  # raised for this run
    monkeypatch.setenv("EXPLORER_MAX_SWEEP_RUNS", "3")
    assert main(["sweep", "--num-features", "4,8", "--seeds", "2", "--seq-lens", "16"]) == 2
    assert "EXPLORER_MAX_SWEEP_RUNS" in capsys.readouterr().err


def test_output_files_need_their_suffix_and_get_their_folder(tmp_path):
    with pytest.raises(UsageError, match="must end in .npz"):
        output_path(tmp_path / "out.txt", suffix=".npz", option="--save")
    path = output_path(tmp_path / "new" / "deeper" / "out.npz", suffix=".npz", option="--save")
    assert path.parent.is_dir()


def test_written_files_follow_the_umask(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x")
    os.chmod(path, 0o600)  # what safetensors' writer leaves
    old = os.umask(0o022)
    try:
        respect_umask(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_json_has_no_bare_inf_or_nan():
    assert json_safe({"a": float("inf"), "b": [float("nan"), 1.0], "c": {"d": -float("inf")}}) == {
        "a": "inf",
        "b": ["nan", 1.0],
        "c": {"d": "-inf"},
    }
