"""Dockyard: a self-hosted container orchestrator that speaks the Amazon ECS APIs."""

__version__ = "0.1.0"
