"""CloudWatch alarms: evaluation (pure) and the actions they invoke."""
