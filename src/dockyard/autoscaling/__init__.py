"""Application Auto Scaling for ECS services: policy math (pure) and its application."""
