"""The AWS wire protocols: decode a request, validate it against botocore's model,
call the action's handler, encode the answer (or the AWS error).

    app.py          aiohttp application, routing by X-Amz-Target / Action
    json_protocol   AWS JSON 1.0 / 1.1 (ECS, Application Auto Scaling, CloudWatch)
    models.py       botocore service models and input validation
    context.py      what a handler receives (store, identity, clock)
    pagination.py   nextToken/maxResults for every List action
    sigv4.py        Signature Version 4 verification
    ecs/            the ECS actions, one module per resource
"""
