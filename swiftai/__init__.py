"""Code both `python -m bot` and `python -m training` share: the settings."""
