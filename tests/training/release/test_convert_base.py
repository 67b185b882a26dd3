"""The base model's cached conversion carries no sampling settings of its own: the backends fill
in the current defaults, so changing them reaches a base model converted before."""

import json

from model.serving import backends, openvino
from model.serving.ct2 import has_conversion
from model.serving.protocol import Sampling
from training.release.convert import convert_base, convert_base_openvino


def test_a_cached_base_model_samples_with_the_current_defaults(tiny_base, tmp_path):
    folder = convert_base(str(tiny_base), tmp_path / "cache")
    config = folder / "generation_config.json"
    assert "repetition_penalty" not in json.loads(config.read_text())
    assert backends.load("ctranslate2", folder, "m").info.defaults == Sampling()

    # As an older version left it: its sampling defaults written in.
    stale = {**json.loads(config.read_text()), "repetition_penalty": 1.15, "temperature": 0.7}
    config.write_text(json.dumps(stale))
    assert convert_base(str(tiny_base), tmp_path / "cache") == folder  # not converted again
    assert json.loads(config.read_text()) == {k: v for k, v in stale.items()
                                              if k not in ("repetition_penalty", "temperature")}
    assert backends.load("ctranslate2", folder, "m").info.defaults == Sampling()


def test_the_base_models_openvino_export_makes_no_ctranslate2_conversion(tiny_base, tmp_path):
    # A real program in optimum-cli's place that writes an IR's two files where it is told.
    exporter = tmp_path / "optimum-cli"
    exporter.write_text('#!/bin/sh\nfor last; do :; done\nmkdir -p "$last"\n'
                        'echo "<net/>" > "$last/openvino_model.xml"\n'
                        ': > "$last/openvino_model.bin"\n')
    exporter.chmod(0o755)
    folder = convert_base_openvino(str(tiny_base), tmp_path / "cache", str(exporter))
    assert openvino.has_ir(folder)
    assert not has_conversion(folder)  # songs on OpenVINO never read one
    assert (folder / "tokenizer.json").is_file() and (folder / "config.json").is_file()

    assert convert_base(str(tiny_base), tmp_path / "cache") == folder  # a later one joins it
    assert has_conversion(folder) and openvino.has_ir(folder)
    assert backends.load("ctranslate2", folder, "m").info.defaults == Sampling()
