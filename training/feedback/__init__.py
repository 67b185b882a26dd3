"""Learning from listeners' votes: the votes file, ranking weights, preference tuning (KTO)."""
