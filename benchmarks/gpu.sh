#!/usr/bin/env bash
# The GPU check of the engines benchmark: vLLM with prefix caching, 64 songs at once against one
# song alone (target: each of the 64 waits at most 2x one song). One short run, minutes:
#
#   VLLM_PYTHON=/path/to/python-with-vllm benchmarks/gpu.sh RUN_DIR [more engines.py flags]
#
# VLLM_PYTHON is a Python with vLLM's CUDA build (`pip install vllm`); SwiftAI's own venv runs
# the benchmark (our worker and openai backend drive the server, as the bot does).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: VLLM_PYTHON=... benchmarks/gpu.sh RUN_DIR [flags]}; shift
python=${VLLM_PYTHON:?set VLLM_PYTHON to a Python that has vLLM built for CUDA}
"$python" -c "import vllm" 2>/dev/null || {
  echo "error: $python cannot import vllm (pip install vllm into it)"; exit 1; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
# CUDA's own block size (16); engines.py's 1 GB of KV cache holds 64 songs of SmolLM2-135M
# (23 KB a token, about 27,000 tokens at the last step); pass --vllm-args for a bigger model.
exec python benchmarks/engines.py --model "$model" --engines vllm --songs 64 --steps 40 \
  --vllm-python "$python" --skip-floor --skip-threads --logs "${TMPDIR:-/tmp}/swiftai-gpu-logs" \
  --vllm-args="--block-size 16" "$@"
