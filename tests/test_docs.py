"""Every setting the code reads is documented: in .env.example and on the settings page."""

import re

from tests.conftest import ROOT

SETTINGS_FILES = ("bot/settings.py", "training/settings.py")
DOCS = ROOT / "docs"


def settings_read() -> set[str]:
    keys: set[str] = set()
    for name in SETTINGS_FILES:
        source = (ROOT / name).read_text(encoding="utf-8")
        keys |= set(re.findall(r"""env\.get\(\s*["']([A-Z][A-Z0-9_]+)["']""", source))
        keys |= set(re.findall(r"""number\(\s*["']([A-Z][A-Z0-9_]+)["']""", source))
    return keys


def test_every_setting_is_in_env_example_and_the_settings_page():
    keys = settings_read()
    assert len(keys) > 20  # the patterns still find the settings
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    table = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing_example = sorted(k for k in keys if not re.search(rf"^#? ?{k}=", example, re.M))
    missing_docs = sorted(k for k in keys if f"`{k}`" not in table)
    assert missing_example == [] and missing_docs == []
