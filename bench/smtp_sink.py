"""An SMTP server that takes a fixed time per message, as a real provider does.

Writes one line per accepted message (recipient, arrival time) and the number
of sessions opened to the file named on the command line, when it stops.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from typing import Any

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.sessions = 0
        self.arrivals: list[tuple[str, float]] = []

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        self.arrivals.append((envelope.rcpt_tos[0], time.time()))
        return "250 OK"


def main() -> None:
    port, delay, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    sink = Sink(delay)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        time.sleep(0.1)
    controller.stop()
    with open(out, "w") as handle:
        json.dump({"sessions": sink.sessions, "arrivals": sink.arrivals}, handle)


if __name__ == "__main__":
    main()
