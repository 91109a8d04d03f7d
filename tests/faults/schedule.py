"""A fault schedule drawn from a seed: the same seed gives the same schedule, printed before the trial runs.

Faults follow one another with a gap between them; each holds for a while, then is healed (a killed node is
started again, a paused one continued, a cut link restored) before the next one starts:

    kill N      SIGKILL node N, start it again when the fault ends
    pause N     SIGSTOP node N (a broker that stops answering but keeps its sockets), SIGCONT at the end
    isolate N   cut both of node N's links to the other nodes (the clients still reach it)
    cut A-B     cut the link between nodes A and B only
    kill2 A,B   SIGKILL two nodes at once (below min.insync.replicas: acks=all must stall, not lose)
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .cluster import NODES

KINDS = ("kill", "pause", "isolate", "cut", "kill2")
WEIGHTS = (4, 2, 2, 2, 1)


@dataclass(frozen=True)
class Fault:
    at_s: float
    hold_s: float
    kind: str
    nodes: tuple[int, ...]

    def describe(self) -> str:
        if self.kind == "cut":
            target = f"link {self.nodes[0]}-{self.nodes[1]}"
        elif self.kind == "kill2":
            target = f"nodes {self.nodes[0]},{self.nodes[1]}"
        else:
            target = f"node {self.nodes[0]}"
        return f"+{self.at_s:5.1f}s {self.kind:<7} {target} for {self.hold_s:.1f}s"


def make_schedule(seed: int, duration_s: float) -> list[Fault]:
    rng = random.Random(seed)
    faults = []
    t = rng.uniform(1.0, 2.5)
    # Short trials get short faults, so that each still sees a few of them.
    hold_max_s = min(6.0, max(2.5, duration_s / 4))
    while True:
        hold = round(rng.uniform(2.0, hold_max_s), 1)
        if t + hold > duration_s:
            break
        kind = rng.choices(KINDS, WEIGHTS)[0]
        if kind in ("cut", "kill2"):
            nodes = tuple(sorted(rng.sample(NODES, 2)))
        else:
            nodes = (rng.choice(NODES),)
        faults.append(Fault(round(t, 1), hold, kind, nodes))
        t += hold + rng.uniform(1.0, 2.5)
    return faults
