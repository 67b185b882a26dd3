"""Fine-tuning speed and memory of GPT-2 124M through our real training code.

Runs `training.finetune.train` (bf16 on CUDA where supported, else fp16; fp32 on CPU) on the
fixture corpus repeated to a realistic size, and prints tokens/s and peak memory. Meant for a
GPU machine (`--steps 300`); on CPU use a few steps just to check it runs.

    python benchmarks/finetune.py [--steps 300] [--batch-size 8] [--block-size 512]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.models import build_gpt2_124m  # noqa: E402
from training.corpus import build_corpus, write_corpus  # noqa: E402
from training.finetune import TrainOptions, start_run, train  # noqa: E402
from training.lyric_files import read_export  # noqa: E402
from training.progress import Progress  # noqa: E402


def main(steps: int, batch_size: int, block_size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = build_gpt2_124m(Path(tmp) / "base")
        songs = read_export(ROOT / "examples" / "Lyrics_JuniperVale.json")
        # 12 songs x 20 copies under distinct titles ~ the size of a real 200-song corpus.
        many = [s.__class__(**{**s.__dict__, "id": f"{s.id}-{i}", "title": f"{s.title} {i}",
                               "lyrics": f"{s.lyrics}\n{i}"}) for i in range(20) for s in songs]
        corpus = build_corpus(many)
        write_corpus(corpus, Path(tmp) / "corpus", "bench", len(many))
        run = Path(tmp) / "run"
        start_run(run, Path(tmp) / "corpus", TrainOptions(
            base_model=str(base), max_steps=steps, batch_size=batch_size, block_size=block_size,
            patience=10**6))  # measure speed: never stop early
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        with open(os.devnull, "w") as quiet:  # the progress lines are not the point here
            summary = train(run, Progress(json_lines=True, stream=quiet))
        seconds = time.perf_counter() - started
        tokens = summary["steps"] * batch_size * summary["block_size"]
    if torch.cuda.is_available():
        device = torch.cuda.get_device_name()
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB GPU"
    else:
        device, precision = f"cpu x{torch.get_num_threads()}", "fp32"
        peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB RSS"
    print(f"# GPT-2 124M fine-tune on {device}, {precision}, {summary['steps']} steps of "
          f"{batch_size}x{summary['block_size']} tokens, {seconds:.1f} s with evaluation")
    print(f"train_tokens_per_s: {tokens / seconds:.0f}")
    print(f"trainer_tokens_per_s: {summary['tokens_per_second']}")
    print(f"peak_memory: {peak}")
    print(json.dumps({"best_eval_loss": summary["best_eval_loss"]}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--block-size", type=int, default=512)
    args = parser.parse_args()
    main(args.steps, args.batch_size, args.block_size)
