"""The model registry: an artist's runs and the published one; atomic file writes."""
