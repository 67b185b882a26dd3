"""The docs match the code: every setting, every command, and the site's shape."""

import argparse
import re

from bot.__main__ import build_parser as bot_parser
from swiftai.settings import Settings
from tests.conftest import ROOT
from training.__main__ import build_parser as training_parser

DOCS = ROOT / "docs"
README_LIMIT = 15 * 1024  # bytes: what it is, two commands, a quickstart, links


def settings_read() -> set[str]:
    return set(Settings.variables().values())


def subcommands(parser: argparse.ArgumentParser) -> list[str]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices)


def test_every_setting_is_in_env_example_and_the_settings_page():
    keys = settings_read()
    assert len(keys) > 20  # the model still names its variables
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    table = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing_example = sorted(k for k in keys if not re.search(rf"^#? ?{k}=", example, re.M))
    missing_docs = sorted(k for k in keys if f"`{k}`" not in table)
    assert missing_example == [] and missing_docs == []


def test_every_training_command_is_documented():
    names = subcommands(training_parser())
    assert "train" in names and "publish" in names  # the parser is still read right
    page = (DOCS / "training.md").read_text(encoding="utf-8")
    assert [n for n in names if f"python -m training {n}" not in page] == []


def test_every_bot_command_is_documented():
    names = subcommands(bot_parser())
    assert "export" in names
    page = (DOCS / "bot.md").read_text(encoding="utf-8")
    assert [n for n in names if f"python -m bot {n}" not in page] == []


def test_every_slash_command_is_documented():
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "bot").rglob("*.py"))
    names = re.findall(r"""app_commands\.command\(\s*name=["']([a-z_-]+)["']""", source)
    assert "lyrics" in names
    page = (DOCS / "bot.md").read_text(encoding="utf-8")
    assert [n for n in names if f"`/{n}" not in page] == []


def test_every_message_command_is_documented():
    import bot.chat.cogs.lyrics  # its menu names are constants, read from it below

    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "bot").rglob("*.py"))
    constants = re.findall(r"app_commands\.context_menu\(\s*name=([A-Z_]+)\)", source)
    assert constants  # "Write a song from this"
    page = (DOCS / "bot.md").read_text(encoding="utf-8")
    names = [getattr(bot.chat.cogs.lyrics, c) for c in constants]
    assert [n for n in names if f"**{n}**" not in page] == []


def test_readme_fits_in_15_kb():
    assert (ROOT / "README.md").stat().st_size <= README_LIMIT


def test_every_docs_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:", 1)[1]
    listed = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", nav, re.M))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages - listed == set() and listed - pages == set()


def test_every_module_and_room_is_on_the_architecture_page():
    page = (DOCS / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for package in ("bot", "model", "training", "swiftai"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.name if path.name != "__init__.py" else f"{path.parent.name}/"
            if not re.search(rf"(?<![\w.]){re.escape(name)}", page):
                missing.append(path.relative_to(ROOT).as_posix())
    assert missing == []
