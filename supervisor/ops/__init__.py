"""The ops surface: an HTTP API onto a running supervisor, and a client for it.

    view.py     SystemView — what the server needs from the system (the facade implements it)
    auth.py     the bearer token check (constant time)
    responses.py  requests and responses as values; JSON errors; the token check of a route
    routes.py   the endpoints: path + method → handler → JSON response
    runlog.py   GET /runs/{id}/log: a run's output by byte offset, in bounded chunks
    deployments.py  recent runs, deployments, and run now / pause / resume
    page.py     the dashboard (static/: HTML, JS, CSS) under a strict Content-Security-Policy
    guard.py    bounded calls into the system (answer 503 rather than hang)
    transport.py  the HTTP plumbing (http.server): body limits, JSON errors, keep-alive, stop
    server.py   OpsServer — binds, serves on a daemon thread, stops
    client.py   OpsClient (httpx) and nudge_supervisor (best effort, stdlib only)
    render.py   human output of `status`
    scripting.py  what the ops scripts in scripts/ share (target lookup, exit codes)

Nothing is imported here so that `nudge_supervisor` stays cheap for the CLI.
"""
