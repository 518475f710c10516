"""Container-instance domain logic shared by the API and the agent hub."""
