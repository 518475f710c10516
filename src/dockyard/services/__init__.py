"""ECS services as a domain: the parts of a service document that both the API
(`api/ecs/services.py`) and the service controller (`controllers/services/`) write."""
