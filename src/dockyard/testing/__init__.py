"""Test support: fakes (runtime) and builders (images) shared by tests and benchmarks."""
