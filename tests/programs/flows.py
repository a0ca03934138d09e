"""Python entrypoints: `tests/programs/flows.py:greet` and friends (keyword arguments)."""

import asyncio


def greet(name: str, times: int = 1) -> None:
    for _ in range(times):
        print(f"hello {name}", flush=True)


def fail(message: str) -> None:
    raise RuntimeError(message)


async def agreet(name: str) -> None:
    await asyncio.sleep(0)
    print(f"async hello {name}", flush=True)


def _sleep_forever() -> None:
    import time

    time.sleep(3600)


def with_workers(workers: int) -> None:
    """Starts `workers` multiprocessing children, says `ready`, and waits for them."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_sleep_forever) for _ in range(workers)]
    for process in processes:
        process.start()
    print("ready", flush=True)
    for process in processes:
        process.join()
