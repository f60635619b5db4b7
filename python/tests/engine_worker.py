"""A minimal Python engine on the connector runtime, run as a process by the worker-pair test.

    python engine_worker.py ROLE COORDINATOR TRANSPORT [push]      (token in $HANDOFF_TOKEN)

Its KV cache is NumPy arrays it owns, one per layer. Prefill writes block i of a ticket as seed content_seed + i;
decode checks every pulled byte against that, answers, and frees the blocks after its first token. With `push`,
prefill writes each ticket's KV into decode's blocks layer by layer once its push target is there (waiting up to
a second for it), then hands the blocks over. Prints "registered" once the session is open; on end of stdin closes
the runtime and prints a JSON summary.
"""

from __future__ import annotations

import json
import selectors
import sys
import time

import numpy as np

import handoff
from handoff import EventKind
from kvpattern import block_matches, fill_block

SPEC = handoff.EngineLayout(model="py-engine", layers=4, kv_heads=2, head_dim=64, dtype_bytes=2, block_tokens=16,
                            num_blocks=96, arrangement="fused")


class Engine:
    def __init__(self, runtime: handoff.Runtime, layout: handoff.KVLayout, regions, push: bool = False) -> None:
        self.runtime, self.layout, self.regions = runtime, layout, regions
        self.free = list(range(layout.num_blocks))
        self.held: dict = {}
        self.verified = self.mismatched = self.released = self.pushed = 0
        self.registered = False
        self.push = push
        self.waiting: dict = {}
        """Push mode: computed tickets waiting for their push target: ticket → (blocks, deadline)."""
        self.traceparents: dict = {}
        """The traceparent each ticket's PREFILL (prefill) or LOADED (decode) event carried: ticket → traceparent."""

    def allocate(self, ticket: str, count: int):
        if count > len(self.free):
            return None
        blocks, self.free = self.free[:count], self.free[count:]
        self.held[ticket] = blocks
        self.runtime.set_load(len(self.free))
        return blocks

    def free_ticket(self, ticket: str) -> None:
        self.free.extend(self.held.pop(ticket, []))
        self.runtime.set_load(len(self.free))

    def handle(self, event: handoff.Event) -> None:
        if event.kind == EventKind.REGISTERED:
            if not self.registered:
                print("registered", flush=True)
            self.registered = True
        elif event.kind == EventKind.PREFILL:
            self.traceparents[event.ticket] = event.traceparent
            blocks = self.allocate(event.ticket, event.block_count)
            if blocks is None:
                return  # the lease runs out and the coordinator fails the ticket
            for index, block in enumerate(blocks):
                fill_block(self.layout, self.regions, block, event.content_seed + index)
            if self.push:
                self.waiting[event.ticket] = (blocks, time.monotonic() + 1.0)
                self.advance_pushes()
            else:
                self.runtime.prefill_done(event.ticket, blocks)
        elif event.kind == EventKind.RESERVE:
            blocks = self.allocate(event.ticket, event.block_count)
            if blocks is None:
                self.runtime.reserve_failed(event.ticket, "no free blocks")
            else:
                self.runtime.reserved(event.ticket, blocks)
        elif event.kind == EventKind.LOADED:
            self.traceparents[event.ticket] = event.traceparent
            intact = all(block_matches(self.layout, self.regions, block, event.content_seed + index)
                         for index, block in enumerate(event.destination_blocks))
            self.verified += intact
            self.mismatched += not intact
            self.runtime.transfer_done(event.ticket, intact)
            self.runtime.first_token(event.ticket, 0.001)
            self.free_ticket(event.ticket)  # generation is over at once in this engine
        elif event.kind == EventKind.RELEASE:
            self.released += 1
            self.waiting.pop(event.ticket, None)
            self.free_ticket(event.ticket)

    def advance_pushes(self) -> None:
        """Pushes the tickets whose target came, layer by layer; hands over those that waited too long unpushed."""
        for ticket, (blocks, deadline) in list(self.waiting.items()):
            if self.runtime.push_layers(ticket, blocks, 0):
                for layer in range(1, self.layout.layers):
                    assert self.runtime.push_layers(ticket, blocks, layer)
            elif time.monotonic() < deadline:
                continue
            del self.waiting[ticket]
            self.pushed += self.runtime.finish_push(ticket, blocks)
            self.runtime.prefill_done(ticket, blocks)


def main() -> None:
    role, coordinator, transport = sys.argv[1:4]
    push = sys.argv[4:5] == ["push"]
    layout = SPEC.kv_layout()
    regions = [np.zeros(layout.region_bytes, dtype=np.uint8) for _ in range(layout.layers)]
    with handoff.Runtime(id=f"py-{role}", role=role, coordinator=coordinator, layout=SPEC, buffers=regions,
                         transport=transport, tcp_listen_host="127.0.0.1") as runtime:
        engine = Engine(runtime, layout, regions, push)
        selector = selectors.DefaultSelector()
        selector.register(runtime.fileno(), selectors.EVENT_READ, "events")
        selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
        running = True
        while running:
            for key, _ in selector.select(timeout=0.005 if engine.waiting else 1.0):
                if key.data == "stdin" and not sys.stdin.readline():
                    running = False
            while (event := runtime.next_event(timeout=0)) is not None:
                engine.handle(event)
            engine.advance_pushes()
        selector.close()
    print(json.dumps({"verified": engine.verified, "mismatched": engine.mismatched, "released": engine.released,
                      "pushed": engine.pushed, "blocks_in_use": layout.num_blocks - len(engine.free),
                      "traceparents": engine.traceparents}), flush=True)


if __name__ == "__main__":
    main()
