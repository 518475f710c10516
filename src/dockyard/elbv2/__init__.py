"""Elastic Load Balancing as a domain: its error codes and the target rows that both the
ELBv2 API (`api/elbv2/`) and the ECS service controller (`controllers/services/`) write;
the LB controller (`lb/`) keeps their health current."""
