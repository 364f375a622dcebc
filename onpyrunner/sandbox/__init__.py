"""The sandboxed runner: nsjail, cgroups, the sandbox init, verdicts."""
