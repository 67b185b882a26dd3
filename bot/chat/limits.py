"""Discord's limits, in one place: the chat room passes them on as values, so the model
knows nothing of Discord."""

MESSAGE_CHARS = 2000  # the most characters one Discord message holds
SONG_CHARS = MESSAGE_CHARS - 100  # a song's text: one message, less room for a title and footer
