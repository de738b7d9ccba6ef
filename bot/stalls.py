"""A warning in the log whenever the event loop was blocked: the one symptom every slow handler shares.

While the loop is blocked nothing else runs: no heartbeat to the gateway, no reply to anyone. The
watcher sleeps a few milliseconds at a time and logs how late it woke whenever that reaches
LOOP_STALL_MS, so a stall shows up in the log with its length instead of as a vague slowness.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


async def watch_event_loop(threshold_ms: float) -> None:
    """Log each stall of at least `threshold_ms` (measured to within the watcher's own interval). Runs until cancelled."""
    loop = asyncio.get_running_loop()
    interval = max(0.005, min(0.05, threshold_ms / 2000))  # a stall is seen to within this
    while True:
        before = loop.time()
        await asyncio.sleep(interval)
        late_ms = (loop.time() - before - interval) * 1000
        if late_ms >= threshold_ms:
            log.warning("the event loop was blocked for %.0f ms", late_ms)
