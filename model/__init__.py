"""The generation engine and the model registry; knows nothing of Discord or Genius."""
