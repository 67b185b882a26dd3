"""Discord: the client, its link, the slash commands (cogs), replies, drafts, the invite."""
