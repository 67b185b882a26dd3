"""What the bot keeps: the generation log, its retention, the vote export, the home lock."""
