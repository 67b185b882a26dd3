"""A Discord message as a first line: its words only."""

from bot.chat.quoting import prompt_from


def test_mentions_emoji_links_and_markup_are_left_out():
    text = ("<@123> <@&9> <#77> look at **the harbor** __lights__ https://example.com/x "
            "<:wave:99> [over there](https://example.com/y) ||now|| @everyone </lyrics:5>")
    assert prompt_from(text, 200) == "look at the harbor lights over there now"


def test_the_first_line_of_words_is_taken_after_code_and_quote_marks():
    text = "```py\nprint(1)\n```\n> # The tide comes in\nand goes out"
    assert prompt_from(text, 200) == "The tide comes in"


def test_a_long_message_is_cut_at_a_word_to_fit():
    assert prompt_from("salt wind " * 30, 24) == "salt wind salt wind salt"


def test_a_message_of_nothing_but_links_and_mentions_gives_nothing():
    assert prompt_from("<@1> https://a.example/b <:x:2>", 200) == ""
