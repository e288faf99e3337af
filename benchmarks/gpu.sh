#!/usr/bin/env bash
# GPU check, one script, under 5 minutes on one CUDA device: the core tests with the `gpu` marker
# included, then the benchmark (fp32, both maskings; the whole comparison vs SDPA; bf16 inputs),
# tables written to files.
#   bash benchmarks/gpu.sh [OUT_DIR]      (default: $OUT if set, else benchmarks/out)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-benchmarks/out}}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

python - <<'PY' 2>&1 | tee "$out/gpu_env.txt" || exit 1
import torch
assert torch.cuda.is_available(), "no CUDA device: this script is for a GPU machine"
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())
PY
python -c "import performer_pytorch" 2>/dev/null \
  || pip install -q --no-deps -r requirements-bench.txt 2>&1 | tail -1 \
  || echo "performer-pytorch unavailable: its rows are skipped"

status=0
timeout 120 python -m pytest -q tests/core -p no:cacheprovider -m "not bench" -x \
  --ignore=tests/core/test_uploads.py --ignore=tests/core/test_layouts.py \
  --ignore=tests/core/test_upload_fuzz.py \
  2>&1 | tail -15 | tee "$out/gpu_tests.txt" || status=1

timeout 110 python benchmarks/bench_attention.py --device cuda --causal both --repeats 10 \
  --max-seconds 8 --seq-lens 1024,4096,16384,65536 --out "$out/gpu_bench.txt" --json --quiet \
  --methods sdpa,naive,favor,performer_pytorch,roofline > "$out/gpu_bench.json" || status=1
timeout 40 python benchmarks/bench_attention.py --device cuda --repeats 3 --max-seconds 5 \
  --seq-lens 4096,16384 --no-memory --methods sdpa,compare,compare_sampled \
  --out "$out/gpu_bench_compare.txt" --quiet > /dev/null || status=1
timeout 35 python benchmarks/bench_attention.py --device cuda --dtype bfloat16 --repeats 10 \
  --max-seconds 5 --seq-lens 4096,16384,65536 --no-memory --methods sdpa,favor,roofline \
  --out "$out/gpu_bench_bf16.txt" --quiet > /dev/null || status=1
cat "$out/gpu_bench.txt" "$out/gpu_bench_compare.txt" "$out/gpu_bench_bf16.txt" 2>/dev/null
exit "$status"
