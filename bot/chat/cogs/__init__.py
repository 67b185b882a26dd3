"""The slash commands: one extension per feature, each registered by its `setup(bot)`."""
