"""A Discord message as a first line: its words, without mentions, markup or links.

"Write a song from this" (the message menu) feeds a message's text to /lyrics. A message is
written for people, not for a songwriter: mentions are ids (`<@123>`), links are noise, markup
is asterisks, and it may run for paragraphs. What is left is its first line of words, cut at a
word to fit the prompt limit.
"""

from __future__ import annotations

import re

import discord

# <@123> <@!123> <@&123> <#123> </command:123> <:emoji:123> <a:emoji:123> <t:1700000000:R>
_TAGS = re.compile(r"<(?:@[!&]?\d+|#\d+|/[\w -]+:\d+|a?:\w+:\d+|t:-?\d+(?::\w)?)>")
_EVERYONE = re.compile(r"@(?:everyone|here)\b")
_MASKED = re.compile(r"\[([^\]\n]*)\]\(<?https?://[^)\s]*>?\)")  # [text](url): the text stays
_LINK = re.compile(r"<?https?://\S+>?")
_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.DOTALL)  # code is not lyrics
_LINE_MARK = re.compile(r"^\s*(?:>>>|>|-#|#{1,3}|[-*+]|\d+[.)])\s+", re.MULTILINE)


def prompt_from(text: str, max_chars: int) -> str:
    """Return the first line of words in a message, at most `max_chars` long ('' if none)."""
    text = _CODE_BLOCK.sub(" ", text)
    text = _MASKED.sub(r"\1", text)
    text = _LINK.sub(" ", text)
    text = _TAGS.sub(" ", text)
    text = _EVERYONE.sub(" ", text)
    text = _LINE_MARK.sub("", text)
    text = discord.utils.remove_markdown(text, ignore_links=False)
    lines = (" ".join(line.split()) for line in text.split("\n"))
    first = next((line for line in lines if any(ch.isalnum() for ch in line)), "")
    if len(first) <= max_chars:
        return first
    cut = first[:max_chars + 1].rsplit(" ", 1)[0]  # at a word, when there is one to cut at
    return (cut if 0 < len(cut) <= max_chars else first[:max_chars]).rstrip(" ,;:-")
