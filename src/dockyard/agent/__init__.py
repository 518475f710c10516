"""The per-host agent: converges Docker containers to the desired tasks of its instance."""
