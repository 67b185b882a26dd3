"""Conversions for the fast backends: a run's, written at publish, and the base model's, cached
once for evaluation (only the one its songs are written on).

A conversion lives in `ct2/` inside a model folder whose tokenizer, config.json and
generation_config.json the CTranslate2 backend reads (model/serving/ct2.py). It is built beside
its final place and renamed into it, so a reader finds a whole conversion or none (then `auto`
serves with transformers). Weights are stored in float16: half the disk of float32, and the
compute type (int8 on CPU) is chosen when the bot loads it.

An OpenVINO IR lives in `openvino/` beside it (model/serving/openvino.py), written the same way
by optimum-intel's `optimum-cli export openvino`. That exporter pins an older transformers than
ours, so it runs as a program from its own venv (OPENVINO_EXPORTER names it), never imported.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

from model.registry.files import staging_dir, write_json_atomic
from model.serving import openvino
from model.serving.backends import locate
from model.serving.ct2 import CONVERSION, cached_base, has_conversion
from model.serving.protocol import Sampling
from training.errors import TrainingError

STORED_AS = "float16"


def ct2_available() -> bool:
    """Say whether the ctranslate2 package is installed."""
    try:
        import ctranslate2  # noqa: F401
    except ImportError:
        return False
    return True


def _register_padded_gpt2() -> None:
    # CTranslate2's GPT-2 loader, unlike its Llama and Qwen2 ones, does not pad the vocabulary
    # to the embedding's rows; we pad embeddings to a multiple of 64 when adding album tokens.
    from ctranslate2.converters import transformers as loaders

    class PaddedGPT2Loader(loaders.GPT2Loader):
        def get_vocabulary(self, model, tokenizer):  # type: ignore[no-untyped-def]
            tokens = super().get_vocabulary(model, tokenizer)
            extra = model.config.vocab_size - len(tokens)
            return tokens + [f"<extra_id_{i}>" for i in range(extra)]

    loaders._MODEL_LOADERS["GPT2Config"] = PaddedGPT2Loader()


def _put_in_place(staged: Path, target: Path) -> Path:
    """Replace `target` with the finished folder `staged`: the old one is set aside first and
    deleted last, so a crash leaves either the old conversion or the new one."""
    old = target.with_name(f".{target.name}.old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    staged.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def convert_folder(folder: Path, quantization: str = STORED_AS) -> Path:
    """Convert the save_pretrained model in `folder` into `folder/ct2`, atomically."""
    from ctranslate2.converters import TransformersConverter

    _register_padded_gpt2()
    staged = folder / f".{CONVERSION}.{secrets.token_hex(4)}"
    try:
        TransformersConverter(str(folder)).convert(str(staged), quantization=quantization,
                                                   force=True)
    except Exception as e:  # the converter raises ValueError/NotImplementedError/KeyError...
        shutil.rmtree(staged, ignore_errors=True)
        raise TrainingError(f"CTranslate2 cannot convert {folder.name}: {e}") from e
    return _put_in_place(staged, folder / CONVERSION)


def convert_openvino(folder: Path, exporter: str, weights: str = "int8",
                     timeout: float = 3600, source: str | Path | None = None) -> Path:
    """Export the save_pretrained model in `folder` (or in `source`, for a base model whose
    cache folder holds only its tokenizer and settings) to an OpenVINO IR in
    `folder/openvino`, atomically, with the `optimum-cli` program `exporter`.

    `weights` int8 (NNCF's weight compression: a quarter of the bytes to read per token, scores
    within 0.06 nats a token of float32 on SmolLM2) or fp32 (exact comparisons).
    """
    program = shutil.which(exporter)
    if program is None:
        raise TrainingError(f"the OpenVINO exporter {exporter!r} is not there (OPENVINO_EXPORTER: "
                            "the optimum-cli of a venv with optimum-intel[openvino])")
    staged = folder / f".{openvino.CONVERSION}.{secrets.token_hex(4)}"
    try:
        done = subprocess.run(
            [program, "export", "openvino", "--model", str(source or folder), "--task",
             "text-generation-with-past", "--weight-format", weights, str(staged)],
            capture_output=True, text=True, timeout=timeout, check=False,
            env={**os.environ, "HF_HUB_OFFLINE": "1"})  # a run folder: nothing to download
        if done.returncode != 0 or not (staged / openvino.IR).is_file():
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            raise TrainingError(f"OpenVINO cannot convert {folder.name}: "
                                f"{lines[-1] if lines else f'exit status {done.returncode}'}")
    except subprocess.TimeoutExpired as e:
        shutil.rmtree(staged, ignore_errors=True)
        raise TrainingError(f"OpenVINO's exporter took over {timeout:.0f} s on "
                            f"{folder.name}") from e
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return _put_in_place(staged, folder / openvino.CONVERSION)


def base_folder(base_model: str, cache: Path) -> Path:
    """Return the base model's folder in the cache, made once: its tokenizer, config and end
    tokens, which a backend reads beside a conversion (`ct2/`, `openvino/`) as it reads a run's.

    Built under a hidden name and renamed into place. No sampling settings are kept in it: the
    backends fill in our defaults when they load it, so a change of them reaches a base model
    cached before it.
    """
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    folder = cached_base(cache, base_model)
    if (folder / "config.json").is_file():
        _forget_sampling(folder / "generation_config.json")
        return folder
    source = str(locate(base_model))  # offline: fail in seconds, or use the local cache
    staged = staging_dir(folder)
    try:
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            config = AutoConfig.from_pretrained(source)
        except (OSError, ValueError) as e:
            raise TrainingError(f"cannot load base model {base_model!r}: {e}") from e
        tokenizer.save_pretrained(staged)
        config.save_pretrained(staged)
        GenerationConfig(eos_token_id=config.eos_token_id).save_pretrained(staged)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staged, folder)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return folder


def convert_base(base_model: str, cache: Path) -> Path:
    """Convert the base model (a hub id or folder) once into its cache folder (`base_folder`);
    return the folder."""
    folder = base_folder(base_model, cache)
    if has_conversion(folder):
        return folder
    from ctranslate2.converters import TransformersConverter

    _register_padded_gpt2()
    staged = folder / f".{CONVERSION}.{secrets.token_hex(4)}"
    try:
        TransformersConverter(str(locate(base_model))).convert(str(staged),
                                                               quantization=STORED_AS, force=True)
    except Exception as e:  # as in convert_folder: ValueError/NotImplementedError/KeyError...
        shutil.rmtree(staged, ignore_errors=True)
        raise TrainingError(f"CTranslate2 cannot convert base model {base_model!r}: {e}") from e
    _put_in_place(staged, folder / CONVERSION)
    return folder


def _forget_sampling(path: Path) -> None:
    """Drop the sampling settings that older versions wrote into a cached base model's
    generation_config.json (they would outlive a change of our defaults)."""
    saved = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    kept = {k: v for k, v in saved.items() if k not in Sampling.__dataclass_fields__}
    if kept != saved:
        write_json_atomic(path, kept)


def convert_base_openvino(base_model: str, cache: Path, exporter: str) -> Path:
    """Export the base model once into its cache folder (`base_folder`); return the folder.

    No CTranslate2 conversion is made beside it: songs written on OpenVINO never read one, and
    it took ~20 s of a first run's evaluation (SmolLM2-135M, 2 cores)."""
    folder = base_folder(base_model, cache)
    if not openvino.has_ir(folder):
        convert_openvino(folder, exporter, source=locate(base_model))  # a folder or hub id
    return folder
