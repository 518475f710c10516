"""Several servers on one PostgreSQL: the controllers' lease (leader election with an epoch
as fencing token), the servers registry and change notifications. See README.md."""
