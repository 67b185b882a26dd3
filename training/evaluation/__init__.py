"""Measuring a run: loss and perplexity, generated songs against the artist's, can-you-tell."""
