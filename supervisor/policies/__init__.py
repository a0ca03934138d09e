"""Per-deployment run policies (issue 14), one concern per module: retries (retry.py), concurrency
(concurrency.py), late runs (lateness.py), hooks (hooks.py), log sections (sections.py), and
their settings keys (fields.py).

The modules decide over values (settings, runs, states, times) and hold no actor state; the
actors call into them (actors/run_policies.py, the root), so the decisions are tested without
actors and the actors' own files change little.
"""
