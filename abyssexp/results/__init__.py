"""Results read across experiments: compare, seed groups, paired tests, summaries, caveats."""
