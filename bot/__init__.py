"""The SwiftAI Discord bot: slash commands over the generation worker, and the generation log."""
