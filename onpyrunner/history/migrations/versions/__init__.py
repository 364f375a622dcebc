"""Each version of the history schema, one module each, in order."""
