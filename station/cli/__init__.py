"""The `station` command line: a thin front over the core, for scripts and the connected side."""
