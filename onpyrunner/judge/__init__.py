"""Judge mode: comparing outputs, per-case verdicts and a score."""
