"""`FakeRuntime` for tests: the production in-memory runtime (`agent/runtime_fake.py`,
also behind `dockyard agent --fake-runtime`), re-exported beside the other fakes."""

from dockyard.agent.runtime_fake import FakeRuntime

__all__ = ["FakeRuntime"]
