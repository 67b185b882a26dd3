"""Every setting the code reads is documented: in .env.example and in the README's table."""

import re

from swiftai.settings import Settings
from tests.conftest import ROOT


def settings_read() -> set[str]:
    return {field.validation_alias for field in Settings.model_fields.values()}


def test_every_setting_is_in_env_example_and_the_readme():
    keys = settings_read()
    assert len(keys) > 20  # the model still names its variables
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Configuration"):readme.index("## The training workflow")]
    missing_example = sorted(k for k in keys if not re.search(rf"^#? ?{k}=", example, re.M))
    missing_readme = sorted(k for k in keys if f"`{k}`" not in table)
    assert missing_example == [] and missing_readme == []
