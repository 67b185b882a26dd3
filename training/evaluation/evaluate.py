"""Measure a run honestly on its validation songs, next to the base model it started from.

Language metrics (loss, perplexity, token accuracy) score the same lyric tokens for both models.
Generation metrics continue each validation song's opening line (on the engine that writes the
songs, below): BLEU against the real
continuation, distinct-1/2, the share of outputs that copy 8+ words of a training song, and the
share stuck in a loop. Song mode writes a whole song from the first `songs` openings (8 by
default) and holds its style figures beside the artist's (training/evaluation/style_check.py),
on the backend users get: OpenVINO when OPENVINO_EXPORTER is set, else CTranslate2 when it is
installed (the run and the base model are converted first; the base model's conversion is
cached), else transformers. When the fast engine cannot convert, load or run a model, that
model's songs are written on the next one (transformers at the last), and the reason goes
to the progress output, metrics.json (`song_backend`, `song_fallback`, `base_` ones for the
base model) and report.md. Writes metrics.json, report.md and report.png into the run
folder.

A classifier tries to tell those songs' stanzas from the artist's (training/evaluation/tells.py).

The base model's figures are kept in the cache folder (training/evaluation/base_figures.py): a
retrain on the same corpus measures only the fine-tuned model.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sacrebleu
import torch

from model.lyrics.songtext import clean_output, is_degenerate
from model.registry.files import write_bytes_atomic, write_json_atomic
from model.serving.backends import locate, openvino_installed
from model.serving.hf import TransformersBackend
from model.serving.protocol import Backend, GenRequest, Served
from model.writing.novelty import COPY_WORDS, CopyIndex, words_of
from model.writing.prompts import prompt_text
from training.data.dataset import Corpus
from training.errors import TrainingError, one_line
from training.evaluation import base_figures
from training.evaluation.scoring import perplexity, score_songs, windows_key
from training.evaluation.style_check import (
    artist_style,
    report_rows,
    song_metrics,
    style_table,
    targets,
    unsure_rhyme,
    write_songs,
)
from training.evaluation.tells import can_tell
from training.evaluation.tells import report_lines as can_tell_report
from training.feedback.preference import report_lines as feedback_report
from training.progress import Progress
from training.release.convert import (
    convert_base,
    convert_base_openvino,
    convert_folder,
    convert_openvino,
    ct2_available,
)

SAMPLE_TOKENS = 64  # per continuation: about four lines
REFERENCE_LINES = 4  # real lines that follow the opening line, to compare against
BATCH = 8
ENGINES = {"ctranslate2": "CTranslate2", "openvino": "OpenVINO"}  # as people write them
SONG_OPENINGS = 8  # whole songs per model: enough to see the form, ~30 s on 2 cores (135M)


def opening_and_rest(lyrics: str) -> tuple[str, str]:
    """Split a song into its first lyric line and the next few lines."""
    lines = [line for line in lyrics.split("\n") if line and not line.startswith("[")]
    return lines[0], "\n".join(lines[1:1 + REFERENCE_LINES])


def _continuations(backend: Backend, songs: list[dict[str, Any]], seed: int) -> list[str]:
    torch.manual_seed(seed)  # transformers' draws; the fast engines seed their own
    served = Served(backend, None)
    texts: list[str] = []
    for start in range(0, len(songs), BATCH):
        requests = [GenRequest(prompt_text(served, opening_and_rest(s["lyrics"])[0],
                                           s.get("album")), max_new_tokens=SAMPLE_TOKENS)
                    for s in songs[start:start + BATCH]]
        texts.extend(c[0].text for c in backend.generate(requests))
    return texts


def _distinct(outputs: list[str], n: int) -> float:
    grams = [tuple(w[i:i + n]) for w in map(words_of, outputs) for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def generation_metrics(raw: list[str], songs: list[dict[str, Any]],
                       index: CopyIndex) -> dict[str, float]:
    """Score raw continuations of `songs`' opening lines."""
    outputs = [clean_output(text) for text in raw]
    references = [opening_and_rest(s["lyrics"])[1] for s in songs]
    bleu = sacrebleu.corpus_bleu([o.replace("\n", " ") for o in outputs],
                                 [[r.replace("\n", " ") for r in references]])
    full = [opening_and_rest(s["lyrics"])[0] + " " + o for s, o in zip(songs, outputs, strict=True)]
    return {
        "bleu": round(bleu.score, 2),
        "distinct_1": round(_distinct(outputs, 1), 4),
        "distinct_2": round(_distinct(outputs, 2), 4),
        "copy_rate": round(sum(index.longest_copy(t) >= COPY_WORDS for t in full) / len(full), 4),
        "degenerate_rate": round(sum(map(is_degenerate, raw)) / len(raw), 4),
    }


def song_openings(val: list[dict[str, Any]], limit: int) -> list[tuple[str, str | None]]:
    """Return the first line and album of the first `limit` validation songs."""
    return [(opening_and_rest(s["lyrics"])[0], s.get("album")) for s in val[:max(1, limit)]]


def song_backend(loaded: TransformersBackend, source: str | Path, cache: Path,
                 exporter: str | None = None) -> tuple[Backend, str | None]:
    """Return the backend to write songs on, the one users will get: OpenVINO when an exporter
    is set (exporting the model first, once), else CTranslate2 when installed (converting it
    first, once), else the transformers backend already loaded; with why it is not the fast
    one (None when it is, or when neither can be had)."""
    if exporter and openvino_installed():
        from model.serving.openvino import OpenVINOBackend, has_ir

        try:
            if isinstance(source, Path):
                if not has_ir(source):
                    convert_openvino(source, exporter)
                folder = source
            else:
                folder = convert_base_openvino(source, cache, exporter)
            return OpenVINOBackend.load(folder, model_id=loaded.info.model_id), None
        except Exception as e:  # an export or a load that failed: CTranslate2 may still do
            why = f"OpenVINO cannot serve it: {one_line(e)}"
            writer, fallback = song_backend(loaded, source, cache)
            return writer, why if fallback is None else f"{why}; {fallback}"
    if not ct2_available():
        return loaded, None
    from model.serving.ct2 import CTranslate2Backend, has_conversion

    try:
        if isinstance(source, Path):
            if not has_conversion(source):
                convert_folder(source)
            folder = source
        else:
            folder = convert_base(source, cache)
    except TrainingError as e:  # an architecture or a config its converter lacks
        return loaded, one_line(e)
    try:
        return CTranslate2Backend.load(folder, model_id=loaded.info.model_id), None
    except Exception as e:  # a corrupt or incompatible conversion: ctranslate2 says which
        return loaded, f"CTranslate2 cannot load the conversion in {folder}: {one_line(e)}"


def _write(writer: Backend, bench: Bench) -> tuple[list[str], list[str]]:
    """Continue the validation songs' first lines, then write whole songs, on `writer`."""
    raw = _continuations(writer, bench.corpus.val, bench.seed)
    train = [s["lyrics"] for s in bench.corpus.train]
    return raw, write_songs(writer, bench.openings, train, bench.artist, bench.seed)


def written_on(loaded: TransformersBackend, source: str | Path, bench: Bench,
               name: str) -> tuple[list[str], list[str], str, str | None]:
    """Write the evaluation's continuations and songs on the engine users get, falling back to
    the next one (song_backend) and at last to transformers when it cannot convert, load or run
    the model; return the continuations, the songs, the backend that wrote them and why it fell
    back (None when it did not)."""
    writer, fallback = song_backend(loaded, source, bench.cache, bench.exporter)
    if writer is not loaded:
        if fallback:
            bench.progress.say(f"{name} model's songs on {writer.info.backend}: {fallback}")
        bench.progress.emit("evaluate", model=name, form="song", backend=writer.info.backend,
                            fallback=fallback)
        try:
            return (*_write(writer, bench), writer.info.backend, fallback)
        except Exception as e:  # the engine users get failed: still measure the model
            fallback = f"{ENGINES[writer.info.backend]} failed writing songs: {one_line(e)}"
        writer = loaded  # lets the fast engine's model go before transformers writes
    if fallback:
        bench.progress.say(f"{name} model's songs on transformers: {fallback}")
    bench.progress.emit("evaluate", model=name, form="song", backend=loaded.info.backend,
                        fallback=fallback)
    return (*_write(loaded, bench), loaded.info.backend, fallback)


@dataclass(frozen=True)
class Bench:
    """What every model is measured on, and with what."""
    corpus: Corpus
    block_size: int
    openings: list[tuple[str, str | None]]  # the songs' first lines (and albums)
    index: CopyIndex  # the training songs, to catch copies
    artist: Any  # the artist's Style figures
    seed: int
    progress: Progress
    cache: Path
    exporter: str | None = None  # OPENVINO_EXPORTER: songs are written on OpenVINO

    def settings(self) -> dict[str, Any]:
        """Return the settings the figures depend on, beside the model and the corpus."""
        return {"seed": self.seed, "block_size": self.block_size, "songs": len(self.openings),
                "sample_tokens": SAMPLE_TOKENS, "ctranslate2": ct2_available(),
                "openvino": bool(self.exporter and openvino_installed())}


def measure(source: str | Path, bench: Bench, name: str,
            scored: dict[str, Any] | None = None) -> dict[str, Any]:
    """Measure one model: its scores on the validation songs (`scored`: the trainer's, of these
    very weights on the same windows), its continuations of their first lines and the songs it
    writes; return figures that JSON keeps (the base model's are cached)."""
    bench.progress.emit("evaluate", model=name)
    val = bench.corpus.val
    backend = TransformersBackend.load(locate(source), model_id=str(source))
    windows = windows_key(val, min(bench.block_size, backend.info.context))  # as training cut
    if scored is None or scored.get("windows") != windows:
        # None, or kept for other songs (a run's validation songs edited since training)
        score = score_songs(backend.model, backend.tokenizer, backend.info.spec, val,
                            bench.block_size)
        scored = {"loss": score.loss, "token_accuracy": score.token_accuracy,
                  "tokens": score.tokens}
    loss = scored["loss"]
    if not math.isfinite(loss):  # the fast engines would sample from it without a word
        raise TrainingError(f"the {name} model's validation loss is {loss}: its weights "
                            "diverged; train again with a lower --learning-rate")
    raw, written, writer, fallback = written_on(backend, source, bench, name)
    metrics: dict[str, Any] = {"loss": round(loss, 4),
                               "perplexity": round(perplexity(loss), 2),
                               "token_accuracy": round(scored["token_accuracy"], 4),
                               **generation_metrics(raw, val, bench.index)}
    song = song_metrics(written, bench.index)
    metrics.update({"song_backend": writer, "song_fallback": fallback,
                    **{k: v for k, v in song.items() if k != "style"}})
    return {"metrics": metrics, "val_loss": loss, "val_tokens": scored["tokens"],
            "song_metrics": song, "continuations": [clean_output(t) for t in raw],
            "songs": written}


def base_measure(base_model: str, bench: Bench) -> tuple[dict[str, Any], str | None]:
    """Measure the base model, or reuse its figures from an evaluation of the same corpus;
    return them and the sha256 of the base model's files (None for a hub model not cached)."""
    folder = base_figures.local_folder(base_model)
    if folder is None:  # a hub model not in the local cache yet: nothing to key figures on
        return measure(base_model, bench, "base"), None
    key = base_figures.key_of(folder, bench.corpus, bench.settings())
    kept, warning = base_figures.load(bench.cache, key)
    if warning:
        bench.progress.say(warning)
    if kept is not None:
        bench.progress.emit("evaluate", model="base", cached=True)
        return kept, key["base_model"]
    figures = measure(base_model, bench, "base")
    base_figures.save(bench.cache, key, figures)
    return figures, key["base_model"]


def kept_scores(val: list[dict[str, Any]], block_size: int, base: dict[str, Any],
                base_hash: str | None, tuned: dict[str, Any]) -> dict[str, Any]:
    """Return metrics.json's `scores`: both models' validation loss and tokens on these windows,
    which publish compares rather than scoring the same windows again (~30 s a model)."""
    def kept(figures: dict[str, Any]) -> dict[str, Any]:
        # Unrounded: the perplexity publish works out must be the one the report gives.
        return {"loss": figures["val_loss"], "tokens": figures["val_tokens"]}

    return {"windows": windows_key(val, block_size), "fine_tuned": kept(tuned),
            "base": {**kept(base), "model_hash": base_hash}}


def evaluate(run_dir: Path, corpus: Corpus, base_model: str, block_size: int, progress: Progress,
             seed: int = 0, songs: int = SONG_OPENINGS, cache: Path | None = None,
             exporter: str | None = None, scored: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate the run in `run_dir` and its base model; write the reports; return metrics.

    With `exporter` (OPENVINO_EXPORTER) the songs are written on OpenVINO, as they will be
    served, and the run keeps its IR for publish. `scored`: the trainer's validation score of
    the run's weights (its last pass scored the same windows), reported instead of scoring
    them again."""
    if cache is None:  # no cache to keep the base model's conversion in: a scratch one
        with tempfile.TemporaryDirectory(prefix="swiftai-eval-") as scratch:
            return evaluate(run_dir, corpus, base_model, block_size, progress, seed, songs,
                            Path(scratch), exporter, scored)
    train = [s["lyrics"] for s in corpus.train]
    artist = artist_style(corpus.manifest, train + [s["lyrics"] for s in corpus.val])
    bench = Bench(corpus, block_size, song_openings(corpus.val, songs), CopyIndex(train), artist,
                  seed, progress, cache, exporter)
    base, base_hash = base_measure(base_model, bench)
    tuned = measure(run_dir, bench, "fine-tuned", scored)
    metrics: dict[str, Any] = {"val_songs": len(corpus.val), "song_openings": len(bench.openings),
                               **{f"base_{k}": v for k, v in base["metrics"].items()},
                               **tuned["metrics"], "val_tokens": tuned["val_tokens"]}
    samples = {"base_": base["continuations"], "tuned": tuned["continuations"],
               "base_song": base["songs"], "song": tuned["songs"]}
    written_by = {"base_": base["song_metrics"], "": tuned["song_metrics"]}
    metrics["style"] = style_table(artist, written_by["base_"], written_by[""],
                                   corpus.manifest.get("form") and tuple(corpus.manifest["form"]))
    metrics["style_targets"] = targets(metrics["style"], written_by[""])
    metrics["scores"] = kept_scores(corpus.val, block_size, base, base_hash, tuned)
    metrics["can_tell"] = can_tell([s["lyrics"] for s in corpus.val],
                                   {"base": samples["base_song"], "fine_tuned": samples["song"]},
                                   seed)
    write_json_atomic(run_dir / "metrics.json", metrics)
    write_bytes_atomic(run_dir / "report.md", _report(run_dir, metrics, corpus, samples).encode())
    log_path = run_dir / "train_log.json"
    if log_path.exists():
        write_bytes_atomic(run_dir / "report.png",
                           _curves(json.loads(log_path.read_text()), metrics))
    return metrics


def verdict(metrics: dict[str, Any]) -> str | None:
    """Say in a few words how a run's songs measured: the song targets, can you tell (None for a
    run with no song figures: one published unevaluated, or measured before them)."""
    if "style_targets" not in metrics:
        return None
    missed = [name for name, met in metrics["style_targets"].items() if not met]
    if "rhyme_rate" in missed and unsure_rhyme(metrics.get("style", {}),
                                               metrics.get("rhyme_rate_error")):
        # An admin reads this line alone (`/retrain`): say when the miss is within the noise.
        missed[missed.index("rhyme_rate")] = (f"rhyme_rate (within the sampling error of "
                                              f"{metrics.get('song_openings', 'its')} songs)")
    told = metrics.get("can_tell") or {}
    ours, floor = told.get("fine_tuned") or {}, told.get("real_vs_real") or {}
    tell = (f"can't tell {ours['accuracy']:.2f} (target at most {told['target']:.2f}; real vs "
            f"real {floor['accuracy']:.2f})" if ours.get("accuracy") is not None and
            floor.get("accuracy") is not None else "can't tell: too few validation songs")
    return f"song targets {'missed: ' + ', '.join(missed) if missed else 'all met'}; {tell}"


def summary_line(metrics: dict[str, Any]) -> str:
    """Say in one line how a run measured: perplexity, the song targets, can you tell."""
    said = verdict(metrics)
    return (f"validation perplexity {metrics['base_perplexity']} (base) -> "
            f"{metrics['perplexity']} (fine-tuned)" + (f"; {said}" if said else ""))


def _report(run_dir: Path, metrics: dict[str, Any], corpus: Corpus,
            samples: dict[str, list[str]]) -> str:
    rows = [("perplexity", "lower is better"), ("loss", "nats per token"),
            ("token_accuracy", "top guess right"), ("bleu", "vs the real next lines"),
            ("distinct_1", "unique words / words"), ("distinct_2", "unique pairs / pairs"),
            ("copy_rate", f"outputs copying {COPY_WORDS}+ training words"),
            ("degenerate_rate", "outputs stuck in a loop")]
    out = [f"# Run {run_dir.name}", "",
           f"Validation: {metrics['val_songs']} songs, {metrics['val_tokens']} scored tokens.", "",
           "| metric | base | fine-tuned | meaning |", "| --- | --- | --- | --- |"]
    out += [f"| {name} | {metrics[f'base_{name}']} | {metrics[name]} | {meaning} |"
            for name, meaning in rows]
    out += ["", *report_rows(metrics),
            *can_tell_report(metrics["can_tell"], {"base": "base", "fine_tuned": "fine-tuned"}),
            *feedback_report(run_dir), "## Samples", "",
            "Each starts from a validation song's first line (in bold); continuations are "
            f"{SAMPLE_TOKENS} tokens with the run's sampling defaults.", ""]
    for song, tuned, base in list(zip(corpus.val, samples["tuned"], samples["base_"],
                                      strict=True))[:5]:
        first = opening_and_rest(song["lyrics"])[0]
        out += [f"### {song['title']}", "", f"**{first}**", "", "Fine-tuned:", "", "```",
                tuned or "(nothing)", "```", "", "Base:", "", "```", base or "(nothing)", "```", ""]
    if samples["song"]:
        out += ["## A whole song (fine-tuned)", "", "```", samples["song"][0], "```", ""]
    return "\n".join(out)


def _curves(history: list[dict[str, Any]], metrics: dict[str, Any]) -> bytes:
    """Plot losses by step, and the validation perplexity beside the base model's.

    Training evaluates the same lyric tokens report.md scores (training/tuning/trainer.py), so the
    curve ends at the table's perplexity for the step whose weights were kept.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    from matplotlib import pyplot as plt

    train = [(h["step"], h["loss"]) for h in history if "loss" in h]
    evals = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    if train:
        left.plot(*zip(*train, strict=True), label="train loss")
    if evals:
        left.plot(*zip(*evals, strict=True), marker="o", label="validation loss")
        right.plot([s for s, _ in evals], [perplexity(v) for _, v in evals], marker="o",
                   label="fine-tuning")
    right.axhline(metrics["base_perplexity"], color="grey", linestyle="--",
                  label=f"base model ({metrics['base_perplexity']})")
    right.axhline(metrics["perplexity"], color="green", linestyle=":",
                  label=f"kept weights ({metrics['perplexity']})")
    left.set(xlabel="step", ylabel="loss (nats/token)", title="Loss")
    left.legend()
    right.set(xlabel="step", ylabel="perplexity",
              title="Validation perplexity (lyric tokens, as in report.md)")
    right.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()
