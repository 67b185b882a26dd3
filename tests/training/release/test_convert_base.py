"""The base model's cached conversion carries no sampling settings of its own: the backends fill
in the current defaults, so changing them reaches a base model converted before."""

import json

from model.serving import backends
from model.serving.protocol import Sampling
from training.release.convert import convert_base


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
