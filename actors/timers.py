"""The actors' import path for the scheduler shared with the process layer (supervisor.timers)."""

from supervisor.timers import ManualScheduler, Scheduler, ThreadScheduler, TimerHandle

__all__ = ["ManualScheduler", "Scheduler", "ThreadScheduler", "TimerHandle"]
