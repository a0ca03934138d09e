"""The ops surface: an HTTP API onto a running supervisor, and a client for it.

    view.py     SystemView — what the server needs from the system (the facade implements it)
    auth.py     the bearer token check (constant time)
    routes.py   the endpoints: path + method → handler → JSON response
    guard.py    bounded calls into the system (answer 503 rather than hang)
    server.py   OpsServer — http.server on a daemon thread
    client.py   OpsClient (httpx) and nudge_supervisor (best effort, stdlib only)
    render.py   human output of `status`

Nothing is imported here so that `nudge_supervisor` stays cheap for the CLI.
"""
