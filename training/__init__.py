"""The `training` CLI: lyrics download, corpus cleaning and (later) fine-tuning."""
