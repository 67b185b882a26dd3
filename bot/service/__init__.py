"""Requests for lyrics, for Discord and the web alike: asks, artists, cooldowns, retrains."""
