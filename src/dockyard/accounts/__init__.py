"""ECS account settings: who the caller is, which settings exist, which value applies.

    catalog.py     pure: every setting name, its values, its AWS default, who may set it;
                   `resolve` picks the value that applies (principal > account > AWS)
    principals.py  the caller of the current request (set by the API gateway from the
                   SigV4 access key) and the principal ARNs a request may name
    records.py     the `account_settings` table (store I/O) and `effective`, which the
                   ECS handlers and task placement read (cluster insights, the ARN
                   formats of tasks, services and container instances)

See README.md for the decisions (what a principal is on Dockyard).
"""
