"""The web page and its JSON API, served from the bot's own event loop."""
