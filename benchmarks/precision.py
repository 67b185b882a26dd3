"""What bf16 and batching buy on this machine: one LoRA training step and the validation scoring,
each way in turn in the same process, printed as ratios beside what they change in the loss.

- `step_fp32_over_bf16`: seconds of one LoRA step (the defaults: rank 16 on every linear layer,
  `--batch-size` blocks of 512) in fp32 over the same step under bf16 autocast; with the loss
  difference and the cosine between the two steps' gradients (1.0 = the same direction).
- `scoring_one_over_batched`: seconds to score the validation songs one window at a time over
  8 at a time (both fp32); `scoring_fp32_over_bf16`: batched fp32 over batched bf16; with the
  loss differences.

Variants alternate, `--reps` times each, and the best time of each counts: other work on the
machine slows whichever runs beside it. bf16 is only fast where the CPU multiplies it natively
(training/precision.py says whether); elsewhere expect ratios below 1.

    python benchmarks/precision.py --base-model DIR --corpus DIR [--batch-size 8] [--reps 2]
                                   [--val-songs N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from model.lyrics.songtext import album_token  # noqa: E402
from model.serving.tokens import spec_of  # noqa: E402
from training.data.dataset import add_album_tokens, load_corpus, pack, tokenize_songs  # noqa: E402
from training.evaluation.scoring import score_songs  # noqa: E402
from training.precision import cpu_bf16  # noqa: E402
from training.tuning import lora  # noqa: E402
from training.tuning.finetune import load_base  # noqa: E402
from training.tuning.options import TrainOptions  # noqa: E402


def best_of(reps: int, variants: dict) -> dict:
    """Run each variant in turn `reps` times; return its best seconds and its last result."""
    seconds = {name: float("inf") for name in variants}
    results = {}
    for _ in range(reps):
        for name, run in variants.items():
            started = time.monotonic()
            results[name] = run()
            seconds[name] = min(seconds[name], time.monotonic() - started)
    return {name: (seconds[name], results[name]) for name in variants}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-model", required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--val-songs", type=int, default=0, help="score only the first N")
    args = parser.parse_args()
    corpus = load_corpus(args.corpus)
    val = corpus.val[:args.val_songs] if args.val_songs else corpus.val
    print(f"cpu_bf16={cpu_bf16()} threads={torch.get_num_threads()} "
          f"load={os.getloadavg()[0]:.1f}", flush=True)

    options = TrainOptions(base_model=args.base_model, lora=True)
    torch.manual_seed(options.seed)
    tokenizer, model = load_base(options, cuda=False)
    spec = spec_of(tokenizer)
    scores = best_of(args.reps, {
        "one": lambda: score_songs(model, tokenizer, spec, val, batch_size=1, fast=False),
        "batched": lambda: score_songs(model, tokenizer, spec, val, fast=False),
        "bf16": lambda: score_songs(model, tokenizer, spec, val),
    })
    (one, s_one), (batched, s_batched), (bf16, s_bf16) = scores.values()
    print(f"scoring_one_over_batched={one / batched:.2f} ({one:.1f} s / {batched:.1f} s, "
          f"loss {s_one.loss:.5f} / {s_batched.loss:.5f}, {s_one.tokens} tokens)")
    print(f"scoring_fp32_over_bf16={batched / bf16:.2f} ({batched:.1f} s / {bf16:.1f} s, "
          f"loss {s_batched.loss:.5f} / {s_bf16.loss:.5f})", flush=True)

    albums = corpus.albums
    add_album_tokens(tokenizer, model, albums)
    model = lora.add_adapters(model, options.lora_rank, options.lora_alpha,
                              tokenizer.convert_tokens_to_ids([album_token(a) for a in albums]))
    model.train()
    blocks = pack(tokenize_songs(tokenizer, spec, corpus.train, set(albums)),
                  options.block_size, tokenizer.pad_token_id)[:args.batch_size]
    batch = {k: torch.stack([b[k] for b in blocks]) for k in blocks[0]}
    trainable = [p for p in model.parameters() if p.requires_grad]

    def step(bf16: bool) -> tuple[float, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)  # the same dropout masks each way
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch).loss
        loss.backward()
        return loss.item(), torch.cat([p.grad.flatten() for p in trainable])

    steps = best_of(args.reps, {"fp32": lambda: step(False), "bf16": lambda: step(True)})
    (fp32, (loss32, grad32)), (bf16, (loss16, grad16)) = steps.values()
    cosine = torch.nn.functional.cosine_similarity(grad32, grad16, dim=0).item()
    print(f"step_fp32_over_bf16={fp32 / bf16:.2f} ({fp32:.1f} s / {bf16:.1f} s for "
          f"{len(blocks)}x{options.block_size} tokens, loss {loss32:.5f} / {loss16:.5f}, "
          f"gradient cosine {cosine:.4f})")
    print(f"load={os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
