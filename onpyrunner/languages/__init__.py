"""The language catalogue (runtimes.toml), shared by the API and the sandbox."""
