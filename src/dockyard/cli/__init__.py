"""Command line: `dockyard server`, `dockyard agent` and the friendly commands over the API."""
