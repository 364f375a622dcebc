"""The playground page: a client of the public API, built from web/ into dist/."""
