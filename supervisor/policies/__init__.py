"""Per-deployment run policies, one concern per module: retries, concurrency, late runs, hooks.

Each module is pure decisions over values (settings, runs, states, times), so the actors only
call into them and the policies are tested on a fake clock without actors.
"""
