"""The songwriting rules over any backend: prompts, lines, ranking, novelty guard, results."""
