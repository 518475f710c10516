"""The service controller: keeps desiredCount tasks running and rolls out deployments.

runner.py           event-driven: queues a service when its tasks, deployments, target
                    health or its cluster's instances change; paced 30 s safety pass
  queue.py          dedup work queue with delays and backoff, SafetyPass (pure)
loop.py             one step: reads, calls reconcile, applies the plan (placement
                    through the scheduler, stops, deployments, events)
  reads.py          what a step reads: live tasks, the primary's newest STOPPED ones,
                    the instances its tasks are on (bounded by the service)
  targets.py        services behind load balancers: register / drain / health
  history.py        the deployment history rows of the plan's deployment changes
reconcile.py        reconcile(service, deployments, tasks, instances, now) -> Plan (pure)
  context.py        the state of one step, event and stop-reason texts, stop order
  rolling.py        REPLICA: starts and stops within minimumHealthy/maximum percent
  daemon.py         DAEMON: one task per eligible instance
  circuit_breaker.py failures, threshold, rollback
model.py            the views reconcile reads and the Plan it returns
task_set_plan.py    EXTERNAL services: plan_task_sets(...) -> each task set at its count
                    (pure), instead of reconcile
  task_set_step.py  the loop's EXTERNAL branch: views, stability/removal, target groups
                    per task set

store --read--> views --reconcile--> Plan --apply--> store (+ agents told)
"""
