"""ECS services as a domain: the parts of a service document that both the API
(`api/ecs/services.py`) and the service controller (`controllers/services/`) write.

documents.py        deployment entries and events of the service document
history.py          service revisions and service deployments: documents, transitions (pure)
history_records.py  their rows in the store
task_sets.py        task sets of EXTERNAL services: entries, computedDesiredCount, primary
"""
