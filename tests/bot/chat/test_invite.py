"""`python -m bot invite`: the link that adds the bot, built without the network."""

from __future__ import annotations

import base64
import os
from urllib.parse import parse_qs, urlsplit

import discord

from bot.__main__ import main

BOT_ID = 1234567890123456789


def fake_token(user_id: int) -> str:
    """A token shaped like Discord's: base64 of the bot's user id, then two opaque parts."""
    return base64.urlsafe_b64encode(str(user_id).encode()).decode().rstrip("=") + ".GAbcde.xyz"


def links(out: str) -> dict[str, dict[str, list[str]]]:
    """Read the install links `invite` prints: where each installs to -> its query."""
    found = {}
    for line in out.splitlines():
        where, _, url = line.partition(":")
        url = url.strip()
        if url.startswith("https://"):
            parts = urlsplit(url)
            assert (parts.netloc, parts.path) == ("discord.com", "/oauth2/authorize")
            found[where.removeprefix("add to ").strip()] = parse_qs(parts.query)
    return found


def invite(capsys, monkeypatch, **env: str) -> tuple[int, str, str]:
    for key in ("DISCORD_TOKEN", "DISCORD_CLIENT_ID"):
        monkeypatch.delenv(key, raising=False)
    for key in ("TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS", "TOKENIZERS_PARALLELISM"):
        monkeypatch.setenv(key, os.environ.get(key, ""))  # main() sets them: undo afterwards
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = main(["invite"])
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def test_invite_reads_the_application_id_from_the_token(capsys, monkeypatch):
    code, out, _ = invite(capsys, monkeypatch, DISCORD_TOKEN=fake_token(BOT_ID))
    assert code == 0
    query = links(out)["a server"]
    assert query["client_id"] == [str(BOT_ID)] and query["integration_type"] == ["0"]
    assert query["scope"] == ["bot applications.commands"]
    granted = discord.Permissions(int(query["permissions"][0]))  # read_messages: View Channel
    assert {name for name, on in granted if on} == {"read_messages", "send_messages",
                                                   "send_messages_in_threads"}


def test_discord_client_id_wins_over_the_token(capsys, monkeypatch):
    code, out, _ = invite(capsys, monkeypatch, DISCORD_TOKEN=fake_token(BOT_ID),
                          DISCORD_CLIENT_ID="42")
    assert code == 0 and {q["client_id"][0] for q in links(out).values()} == {"42"}


def test_invite_also_gives_the_user_install_link_and_what_the_portal_needs(capsys,
                                                                          monkeypatch):
    code, out, _ = invite(capsys, monkeypatch, DISCORD_CLIENT_ID="42")
    query = links(out)["your account"]
    assert code == 0 and query["integration_type"] == ["1"]
    assert query["scope"] == ["applications.commands"] and "permissions" not in query
    assert "Installation Contexts" in out and "User Install" in out


def test_without_a_token_or_client_id_invite_says_what_to_set(capsys, monkeypatch):
    code, out, err = invite(capsys, monkeypatch)
    assert code == 1 and out == ""
    assert err.startswith("error: set DISCORD_CLIENT_ID") and "Application ID" in err


def test_a_token_that_is_not_a_bot_token_is_named(capsys, monkeypatch):
    code, _, err = invite(capsys, monkeypatch, DISCORD_TOKEN="not-a-token")
    assert code == 1 and "does not look like a bot token" in err
