"""The `training` CLI: lyrics download, corpus cleaning, fine-tuning, evaluation, publishing."""
