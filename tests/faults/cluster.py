"""A three-node cluster of real processes (potok or Apache Kafka) in network namespaces the harness owns.

Layout (all names carry the harness's pid, so several runs on one machine never meet):

    potokf<pid>-br    a bridge `br0`; one veth per node and one for the clients are its ports
    potokf<pid>-n1..3 one node each, address 10.77.0.<i>, broker port 9092, controller port 9093
    potokf<pid>-cl    the clients (10.77.0.100): the harness enters it, so its admin client and the workload
                      processes it starts reach the nodes, and nothing else does

Why namespaces and not a TCP proxy: a node learns its peers' addresses from the cluster metadata (advertised
listeners) and from `controller.quorum.voters`, one address per node for everybody, so a proxy in the middle
cannot tell which peer a connection comes from without broker-specific listener tricks. With a namespace per
node the same property files work for any broker, and a partition is a pair of routes: `blackhole` routes to
each other's address in both nodes' namespaces, so packets on the cut link (new connections and established
ones) are dropped inside the kernel and the peers see silence, as on a real partition, while the clients still
reach both nodes. Limits: the kernel on this machine has no tc actions or netfilter, so there is no packet
loss, delay or one-way cut, and a connect() that hits a blackhole route fails at once (EINVAL) instead of
timing out; established connections do time out as they would. Every namespace is deleted on exit (which
removes its veths and routes) and every node process gets SIGKILL from the kernel if the harness dies
(PR_SET_PDEATHSIG), so nothing outlives a run, even one killed with SIGKILL (the namespaces of a run killed
that way are removed by the next run: see `remove_stale_namespaces`).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SUBNET = "10.77.0"
CLIENT_ADDR = f"{SUBNET}.100"
BROKER_PORT = 9092
CONTROLLER_PORT = 9093
NODES = (1, 2, 3)
NS_PREFIX = "potokf"

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
_CLONE_NEWNET = 0x40000000


def node_addr(i: int) -> str:
    return f"{SUBNET}.{i}"


def bootstrap_servers() -> str:
    return ",".join(f"{node_addr(i)}:{BROKER_PORT}" for i in NODES)


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when the harness dies, so no node or workload outlives it."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def run(*args: str, timeout: float = 20) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def remove_stale_namespaces() -> list[str]:
    """Deletes the namespaces of earlier runs whose harness process is gone (one killed with SIGKILL)."""
    removed = []
    for line in run("ip", "netns", "list").splitlines():
        m = re.match(rf"({NS_PREFIX}(\d+)-\w+)", line)
        if m and not Path(f"/proc/{m.group(2)}").exists():
            subprocess.run(["ip", "netns", "del", m.group(1)], capture_output=True, timeout=20)
            removed.append(m.group(1))
    return removed


class Network:
    """The namespaces, the bridge and the per-link cuts. `close()` deletes everything it made."""

    def __init__(self) -> None:
        self.prefix = f"{NS_PREFIX}{os.getpid()}"
        self.created: list[str] = []
        self.cut_links: set[tuple[int, int]] = set()

    def ns(self, name: str | int) -> str:
        return f"{self.prefix}-{'n' + str(name) if isinstance(name, int) else name}"

    def setup(self) -> None:
        br = self.ns("br")
        self._add_ns(br)
        run("ip", "-n", br, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", br, "link", "set", "br0", "up")
        for name, addr in [(i, node_addr(i)) for i in NODES] + [("cl", CLIENT_ADDR)]:
            ns = self.ns(name)
            self._add_ns(ns)
            port = f"v{name}"
            # Created straight inside the two namespaces, so the root namespace never sees these interfaces.
            run("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", br)
            run("ip", "-n", br, "link", "set", port, "master", "br0")
            run("ip", "-n", br, "link", "set", port, "up")
            run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")

    def _add_ns(self, ns: str) -> None:
        run("ip", "netns", "add", ns)
        self.created.append(ns)

    def enter_clients(self) -> None:
        """Moves this process (before it starts any thread) into the clients' namespace."""
        fd = os.open(f"/var/run/netns/{self.ns('cl')}", os.O_RDONLY)
        try:
            if _libc.setns(fd, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into the clients' namespace")
        finally:
            os.close(fd)

    def cut(self, a: int, b: int) -> None:
        """Drops every packet between nodes a and b (both directions), leaving the clients' links alone."""
        if (min(a, b), max(a, b)) in self.cut_links:
            return
        run("ip", "-n", self.ns(a), "route", "add", "blackhole", f"{node_addr(b)}/32")
        run("ip", "-n", self.ns(b), "route", "add", "blackhole", f"{node_addr(a)}/32")
        self.cut_links.add((min(a, b), max(a, b)))

    def heal(self) -> None:
        for a, b in sorted(self.cut_links):
            run("ip", "-n", self.ns(a), "route", "del", "blackhole", f"{node_addr(b)}/32")
            run("ip", "-n", self.ns(b), "route", "del", "blackhole", f"{node_addr(a)}/32")
        self.cut_links.clear()

    def close(self) -> None:
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        self.created.clear()


def node_properties(i: int, log_dir: Path) -> str:
    voters = ",".join(f"{n}@{node_addr(n)}:{CONTROLLER_PORT}" for n in NODES)
    return f"""process.roles=broker,controller
node.id={i}
controller.quorum.voters={voters}
listeners=PLAINTEXT://{node_addr(i)}:{BROKER_PORT},CONTROLLER://{node_addr(i)}:{CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://{node_addr(i)}:{BROKER_PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={log_dir}
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
replica.lag.time.max.ms=5000
group.initial.rebalance.delay.ms=0
transaction.abort.timed.out.transaction.cleanup.interval.ms=2000
"""


@dataclass
class Node:
    i: int
    pid: int | None = None
    proc: subprocess.Popen | None = None
    paused: bool = False
    starts: int = 0
    log: Path = field(default_factory=Path)


class Cluster:
    """Three nodes, each a process in its own namespace; kill/pause/restart by pid, partitions by `Network`."""

    def __init__(self, kind: str, binary: str | None, workdir: Path, java: str | None, classpath: str | None):
        self.kind = kind
        self.binary = binary
        self.workdir = workdir
        self.java = java
        self.classpath = classpath
        self.net = Network()
        self.nodes = {i: Node(i, log=workdir / f"node-{i}.out") for i in NODES}

    def config_path(self, i: int) -> Path:
        return self.workdir / f"server-{i}.properties"

    def setup(self) -> None:
        self.net.setup()
        for i in NODES:
            self.config_path(i).write_text(node_properties(i, self.workdir / f"kafka-logs-{i}"))
        if self.kind == "kafka":
            # Kafka refuses to start on an unformatted log dir; potok derives the cluster id from the voters.
            cluster_id = self._java("kafka.tools.StorageTool", "random-uuid").strip()
            for i in NODES:
                self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.config_path(i)))

    def _java(self, *args: str) -> str:
        assert self.java and self.classpath
        return run(self.java, "-cp", self.classpath, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", *args,
                   timeout=120)

    def start(self, i: int) -> None:
        node = self.nodes[i]
        assert node.proc is None, f"node {i} is already running"
        if self.kind == "kafka":
            assert self.java and self.classpath
            # Small heap and C1 only: three JVMs share two cores with everything else on this machine.
            cmd = [self.java, "-Xms128m", "-Xmx512m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                   "-cp", self.classpath, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                   "kafka.Kafka", str(self.config_path(i))]
        else:
            assert self.binary
            cmd = [self.binary, "broker", str(self.config_path(i))]
        with open(node.log, "ab") as out:
            out.write(f"\n=== start {node.starts + 1} at {time.strftime('%H:%M:%S')} ===\n".encode())
            out.flush()
            # `ip netns exec` enters the namespace and execs the node, so the pid is the node's own.
            node.proc = subprocess.Popen(["ip", "netns", "exec", self.net.ns(i), *cmd], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=die_with_parent)
        node.pid = node.proc.pid
        node.starts += 1
        node.paused = False

    def kill(self, i: int) -> None:
        node = self.nodes[i]
        if node.proc is None:
            return
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(timeout=30)
        node.proc = None
        node.pid = None
        node.paused = False

    def pause(self, i: int) -> None:
        node = self.nodes[i]
        if node.proc is not None and not node.paused:
            node.proc.send_signal(signal.SIGSTOP)
            node.paused = True

    def resume(self, i: int) -> None:
        node = self.nodes[i]
        if node.proc is not None and node.paused:
            node.proc.send_signal(signal.SIGCONT)
            node.paused = False

    def heal(self) -> None:
        """Ends every fault: network cuts removed, paused nodes continued, stopped nodes started again."""
        self.net.heal()
        for i in NODES:
            self.resume(i)
            if self.nodes[i].proc is None:
                self.start(i)

    def exited(self) -> list[tuple[int, int]]:
        """Nodes that exited on their own (not killed by the harness), with their status."""
        out = []
        for node in self.nodes.values():
            if node.proc is not None and node.proc.poll() is not None:
                out.append((node.i, node.proc.returncode))
        return out

    def tail(self, i: int, lines: int = 15) -> str:
        try:
            return "\n".join(self.nodes[i].log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def close(self) -> None:
        for node in self.nodes.values():
            if node.proc is not None:
                try:
                    node.proc.send_signal(signal.SIGKILL)
                    node.proc.wait(timeout=30)
                except (OSError, subprocess.TimeoutExpired):
                    pass
                node.proc = None
        self.net.close()


def kafka_java_and_classpath(repo: Path) -> tuple[str, str]:
    java_home = os.environ.get("KAFKA_JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")
    classpath = run("bash", str(repo / "scripts/kafka.sh"), "classpath", timeout=900).strip()
    java = shutil.which("java", path=f"{java_home}/bin") or f"{java_home}/bin/java"
    return java, classpath
