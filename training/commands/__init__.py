"""What each `python -m training` command does: data commands, and model commands."""
