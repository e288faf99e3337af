"""``python -m explorer bench``: rows as JSON, a table, one-line errors."""

from __future__ import annotations

import json

from explorer.cli.main import main


def test_bench_cli_rows_and_table(capsys, tmp_path):
    args = ["bench", "--seq-lens", "32,64", "--heads", "1", "--head-dim", "8"]
    args += ["--num-features", "16", "--repeats", "1", "--causal", "both", "--no-memory"]
    assert main([*args, "--json", "--quiet"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["method"], r["seq_len"], r["causal"]) for r in rows} >= {
        ("favor", 64, True),
        ("sdpa", 32, False),
        ("roofline", 64, False),
    }
    for row in rows:
        assert {"method", "seq_len", "causal", "seconds", "peak_bytes"} <= set(row)
    table = tmp_path / "bench.txt"
    assert main([*args, "--quiet", "--methods", "sdpa,favor", "--out", str(table)]) == 0
    out = capsys.readouterr()
    assert "crossover" in out.out and table.read_text().strip() in out.out
    assert f"wrote {table}" in out.err
    assert main(["bench", "--methods", "favor,flash"]) == 2
    assert "unknown method 'flash'" in capsys.readouterr().err
