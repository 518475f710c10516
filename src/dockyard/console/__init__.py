"""The web console served by `dockyard server` at /console (see app.py)."""

from dockyard.console.app import create_app, register

__all__ = ["create_app", "register"]
