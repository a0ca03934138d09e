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
