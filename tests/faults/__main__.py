"""Fault-injection trials against a three-node potok or Apache Kafka cluster (issue 16).

    python -m faults kafka|potok [BINARY] [--trials N] [--seed S] [--quick] [--duration S] [--keep]

(run from tests/ with the project's venv, as root: see scripts/fault-check.sh). One cluster serves every trial;
each trial has its own topics and group. A trial: create the topics, start the workloads, inject the faults of
its schedule, heal, wait for the cluster to settle (every partition led, its ISR whole again), stop the
workloads, drain both topics with fresh read_committed and read_uncommitted consumers, check (a duplicate whose
copies a replica's segment files show under two producer epochs, acknowledged at the newer one, is the client's
resend after an epoch bump: reported, not a violation; see checker.reclassify_resends). The run prints its
seed; each trial prints its own seed and schedule, and `--seed TRIAL_SEED --trials 1` replays that schedule on a
fresh cluster. Exit status 0 when no trial found a violation.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from . import checker
from .cluster import NODES, Cluster, bootstrap_servers, die_with_parent, kafka_java_and_classpath, \
    remove_stale_namespaces
from .schedule import Fault, make_schedule

PARTITIONS = 3
PRODUCERS = 2
CONSUMERS = 2
PRODUCE_RATE = 100  # records per second per idempotent producer: enough to hit every fault, light on CPU


REPO = Path(__file__).resolve().parents[2]
BATCH_LINE = re.compile(r"^baseOffset: (\d+) lastOffset: (\d+) .*?producerId: (-?\d+) producerEpoch: (-?\d+)")


def batch_lookup(cluster: Cluster, topic: str):
    """(partition, offset) -> (producer id, producer epoch) of the batch holding that offset, read from the first
    replica's segment files that has it, with the target's own dump tool (`potok dump-log`, or Kafka's
    DumpLogSegments through scripts/kafka.sh: both print the same batch lines)."""
    batches: dict[int, list[tuple[int, int, int, int]]] = {}

    def read(p: int) -> list[tuple[int, int, int, int]]:
        for i in NODES:
            segments = sorted(str(f) for f in (cluster.workdir / f"kafka-logs-{i}" / f"{topic}-{p}").glob("*.log"))
            if not segments:
                continue
            if cluster.kind == "kafka":
                cmd = [str(REPO / "scripts/kafka.sh"), "dump-log-segments", *segments]
            else:
                cmd = [str(cluster.binary), "dump-log", "--files", ",".join(segments)]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            except subprocess.TimeoutExpired:
                continue
            found = [tuple(int(g) for g in m.groups()) for m in map(BATCH_LINE.match, done.stdout.splitlines()) if m]
            if found:
                return found
        return []

    def batch_of(p: int, offset: int) -> tuple[int, int] | None:
        if p not in batches:
            batches[p] = read(p)
        return next(((pid, epoch) for base, last, pid, epoch in batches[p] if base <= offset <= last), None)

    return batch_of


class TrialFailure(Exception):
    """A trial that could not run to its check (a hang, a cluster that never came up); reported, not raised."""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def wait_until(what: str, timeout_s: float, probe, interval_s: float = 0.5):
    """Polls `probe` until it returns something truthy; TrialFailure naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last_err = None
    while time.monotonic() < deadline:
        try:
            got = probe()
            if got:
                return got
        except Exception as e:  # noqa: BLE001 - any failure while the cluster recovers is a poll missed
            last_err = e
        time.sleep(interval_s)
    raise TrialFailure(f"timed out after {timeout_s:.0f}s waiting for {what}" +
                       (f" (last error: {last_err})" if last_err else ""))


def admin():
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap_servers(), "socket.connection.setup.timeout.ms": 5000,
                        "log_level": 2})


def brokers_up(a) -> bool:
    return len(a.list_topics(timeout=5).brokers) == len(NODES)


def topics_settled(a, topics: list[str]) -> bool:
    md = a.list_topics(timeout=5)
    if len(md.brokers) != len(NODES):
        return False
    for t in topics:
        tm = md.topics.get(t)
        if tm is None or tm.error is not None or len(tm.partitions) != PARTITIONS:
            return False
        for pm in tm.partitions.values():
            if pm.leader < 0 or pm.error is not None or sorted(pm.isrs) != sorted(pm.replicas):
                return False
    return True


def describe_topics(a, topics: list[str]) -> str:
    try:
        md = a.list_topics(timeout=5)
    except Exception as e:  # noqa: BLE001
        return f"(no metadata: {e})"
    out = []
    for t in topics:
        tm = md.topics.get(t)
        if tm is None:
            out.append(f"{t}: absent")
            continue
        for p, pm in sorted(tm.partitions.items()):
            out.append(f"{t}-{p}: leader {pm.leader} replicas {pm.replicas} isr {pm.isrs}")
    return "; ".join(out)


def create_topics(a, topics: list[str]) -> None:
    from confluent_kafka.admin import NewTopic

    def create():
        fs = a.create_topics([NewTopic(t, PARTITIONS, 3) for t in topics], request_timeout=15)
        for t, f in fs.items():
            try:
                f.result(timeout=20)
            except Exception as e:  # noqa: BLE001
                if "TOPIC_ALREADY_EXISTS" not in str(e):
                    raise
        return True

    wait_until("the trial's topics to be created", 60, create, 1)
    wait_until("a leader and a whole ISR for every new partition", 60, lambda: topics_settled(a, topics))


class Workloads:
    def __init__(self, dir: Path) -> None:
        self.dir = dir
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str) -> None:
        out = self.dir / f"{name}.jsonl"
        err = open(self.dir / f"{name}.stderr", "wb")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "faults.workload", *args, str(out)], stdout=err, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=Path(__file__).resolve().parent.parent, preexec_fn=die_with_parent)
        err.close()

    def stop(self, names: list[str], timeout_s: float) -> list[str]:
        """SIGTERM, then SIGKILL for any still running after `timeout_s`; returns the names that were hung."""
        for n in names:
            if self.procs[n].poll() is None:
                self.procs[n].send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        hung = []
        for n in names:
            try:
                self.procs[n].wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                hung.append(n)
                self.procs[n].kill()
                self.procs[n].wait(timeout=10)
        return hung

    def kill_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)

    def read(self, name: str) -> list[dict]:
        path = self.dir / f"{name}.jsonl"
        if not path.exists():
            return []
        lines = []
        for line in path.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # the last line of a workload killed mid-write
        return lines


def drain(topics: list[str], isolation: str, timeout_s: float, until=None, stuck=None):
    """Every record of `topics` from the log start to the end (high watermark, or LSO for read_committed).
    `until`: the read_uncommitted ends, which the last stable offsets are awaited to reach; the partitions
    where they do not are added to `stuck`."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    c = Consumer({
        "bootstrap.servers": bootstrap_servers(),
        "group.id": f"drain-{isolation}-{os.getpid()}-{time.monotonic_ns()}",
        "isolation.level": isolation,
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "socket.connection.setup.timeout.ms": 5000,
        "log_level": 2,  # a refused connection while a node restarts is expected, not worth a line
    })

    def lso_reached(tp, high: int):
        ends = c.get_watermark_offsets(tp, timeout=5)
        return ends if ends[1] >= high else None

    # One deadline for the watermarks and the last stable offsets of all partitions, one for the reading.
    deadline = time.monotonic() + timeout_s

    def left_s() -> float:
        return max(1.0, deadline - time.monotonic())

    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        ends = {}
        for tp in tps:
            key = (tp.topic, tp.partition)
            ends[key] = wait_until(f"the watermarks of {tp.topic}-{tp.partition} ({isolation})", left_s(),
                                   lambda tp=tp: c.get_watermark_offsets(tp, timeout=5) or None)
            if until is not None and ends[key][1] < until[key][1]:
                # read_committed ends at the last stable offset: once every producer has stopped and the
                # transaction timeout has passed, it must reach the high watermark (no transaction left open).
                try:
                    ends[key] = wait_until(
                        f"the last stable offset of {tp.topic}-{tp.partition} to reach the high watermark "
                        f"{until[key][1]}", left_s(),
                        lambda tp=tp, key=key: lso_reached(tp, until[key][1]))
                except TrialFailure as e:
                    stuck.append(f"{e}: it stayed at {c.get_watermark_offsets(tp, timeout=5)}")
                    ends[key] = c.get_watermark_offsets(tp, timeout=5)
        c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in ends])
        logs = {t: {p: [] for p in range(PARTITIONS)} for t in topics}
        done = {k for k, (low, high) in ends.items() if high <= low}
        deadline = time.monotonic() + timeout_s
        while len(done) < len(ends):
            if time.monotonic() > deadline:
                left = {f"{t}-{p}": ends[(t, p)] for t, p in ends if (t, p) not in done}
                raise TrialFailure(f"{isolation} drain timed out after {timeout_s:.0f}s; unfinished (low, high): "
                                   f"{left}")
            msg = c.poll(0.5)
            if msg is None:
                continue
            key = (msg.topic(), msg.partition())
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    if msg.offset() >= ends[key][1]:
                        done.add(key)
                continue
            logs[msg.topic()][msg.partition()].append((msg.offset(), msg.value().decode()))
        return logs, ends
    finally:
        c.close()


def warm_up(a) -> None:
    """Creates __transaction_state and __consumer_offsets before the first trial, so that their creation (tens of
    seconds on a loaded machine) does not eat the first trial's faults. Best effort: a failure is printed and the
    trials go on (they show what does not work)."""
    from confluent_kafka import Producer, TopicPartition

    create_topics(a, ["warm-up"])
    common = {"bootstrap.servers": bootstrap_servers(), "log_level": 2}
    plain = Producer(common)
    plain.produce("warm-up", b"x", partition=0)
    if plain.flush(30):
        log("warm-up: a record was not acknowledged in 30 s")
    p = Producer(dict(common, **{"transactional.id": f"warm-up-{os.getpid()}"}))

    def init():
        p.init_transactions(20)
        return True

    try:
        wait_until("the transaction coordinator (InitProducerId)", 120, init, 1)
        p.begin_transaction()
        p.produce("warm-up", b"x", partition=0)
        p.commit_transaction(30)
    except Exception as e:  # noqa: BLE001
        log(f"warm-up: a transaction failed: {e}")
    from confluent_kafka import ConsumerGroupTopicPartitions

    def commit():
        # An offset commit from outside any generation, as Kafka takes from a standalone consumer: enough to
        # create __consumer_offsets without needing a readable record (an admin call, so it has a timeout).
        fs = a.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions("warm-up", [TopicPartition("warm-up", 0, 0)])], request_timeout=10)
        return [f.result(timeout=15) for f in fs.values()]

    try:
        wait_until("the group coordinator (an offset commit)", 60, commit, 1)
    except Exception as e:  # noqa: BLE001
        log(f"warm-up: the group failed: {e}")


def apply(cluster: Cluster, f: Fault) -> None:
    if f.kind in ("kill", "kill2"):
        for n in f.nodes:
            cluster.kill(n)
    elif f.kind == "pause":
        cluster.pause(f.nodes[0])
    elif f.kind == "isolate":
        for other in NODES:
            if other != f.nodes[0]:
                cluster.net.cut(f.nodes[0], other)
    elif f.kind == "cut":
        cluster.net.cut(*f.nodes)


def run_trial(cluster: Cluster, k: int, seed: int, args, workdir: Path) -> tuple[checker.Result, list[str]]:
    schedule = make_schedule(seed, args.duration)
    log(f"trial {k}: seed {seed}, {len(schedule)} faults over {args.duration:.0f}s")
    for f in schedule:
        print(f"    {f.describe()}", flush=True)
    tdir = workdir / f"trial-{k}"
    tdir.mkdir()
    acked, txn = f"t{k}-acked", f"t{k}-txn"
    group = f"t{k}-group"
    # The harness holds no client while the faults run: an idle librdkafka admin client whose brokers die
    # under it has aborted the whole run (rd_kafka_enq_once_del_source_return: `eonce->refcnt > 0`).
    a = admin()
    create_topics(a, [acked, txn])
    del a
    bs = bootstrap_servers()
    w = Workloads(tdir)
    notes: list[str] = []
    res = checker.Result()
    try:
        producers = [f"p{i}" for i in range(PRODUCERS)]
        consumers = [f"c{i}" for i in range(CONSUMERS)]
        for name in producers:
            w.start(name, "producer", bs, acked, str(PARTITIONS), name, str(PRODUCE_RATE))
        w.start("txn", "txn", bs, txn, str(PARTITIONS), f"t{k}x", str(seed))
        for name in consumers:
            w.start(name, "consumer", bs, f"{acked},{txn}", group, name)
        w.start("monitor", "monitor", bs, group, f"{acked},{txn}", str(PARTITIONS))
        start = time.monotonic()
        for f in schedule:
            time.sleep(max(0.0, start + f.at_s - time.monotonic()))
            apply(cluster, f)
            time.sleep(f.hold_s)
            cluster.heal()
            for n, rc in cluster.exited():
                res.add("node-crashed", f"node {n} exited with status {rc} on its own:\n{cluster.tail(n)}")
                cluster.nodes[n].proc = None
                cluster.start(n)
        time.sleep(max(0.0, start + args.duration - time.monotonic()))
        cluster.heal()
        log(f"trial {k}: faults healed; waiting up to {args.settle:.0f}s for the cluster to settle")
        a = admin()
        healed = time.monotonic()
        try:
            wait_until("every partition led with its whole ISR", args.settle,
                       lambda: topics_settled(a, [acked, txn]))
        except TrialFailure as e:
            res.add("not-settled", f"{e}: {describe_topics(a, [acked, txn])}")
        settled = time.monotonic()
        for name in w.stop(producers + ["txn"], 60):
            res.add("workload-hung", f"{name} did not finish within 60s of SIGTERM")
        time.sleep(1)  # lets the group consume the last records before it stops
        for name in w.stop(consumers + ["monitor"], 30):
            res.add("workload-hung", f"{name} did not finish within 30s of SIGTERM")
        log(f"trial {k}: settled in {settled - healed:.1f}s, workloads stopped in "
            f"{time.monotonic() - settled:.1f}s; draining")
        try:
            ru, marks = drain([acked, txn], "read_uncommitted", args.drain_timeout)
            stuck: list[str] = []
            rc, _ = drain([acked, txn], "read_committed", args.drain_timeout, until=marks, stuck=stuck)
            for e in stuck:
                res.add("open-transaction", e)
        except TrialFailure as e:
            res.add("drain-timeout", f"{e}: {describe_topics(a, [acked, txn])}")
            return res, notes
        out = checker.Outputs(
            acked_topic=acked, txn_topic=txn,
            producers={n: w.read(n) for n in producers},
            txns=[line for line in w.read("txn") if "txn" in line and "outcome" in line],
            consumers={n: w.read(n) for n in consumers},
            monitor=[line for line in w.read("monitor") if "offsets" in line],
            drain_ru=ru, drain_rc=rc,
            watermarks={t: {p: marks[(t, p)] for p in range(PARTITIONS)} for t in (acked, txn)})
        checked = checker.check(out)
        if checked.acked_duplicates:
            checker.reclassify_resends(checked, acked, batch_lookup(cluster, acked))
        for detail in checked.resent:
            notes.append(f"resent by the client under a new producer epoch (not a violation): {detail}")
        checked.violations[:0] = res.violations
        res = checked
        for n in producers + ["txn"]:
            errs = Counter(line.get("event") for line in w.read(n) if "event" in line and line["event"] != "done")
            if errs:
                notes.append(f"client errors (not violations) {n}: {dict(errs)}")
        # Liveness, not checked: records a producer still held 40 s after SIGTERM, the cluster settled.
        unflushed = {n: line["unflushed"] for n in producers for line in w.read(n)
                     if line.get("event") == "done" and line["unflushed"]}
        if unflushed:
            notes.append(f"records never acknowledged (liveness, not checked): {unflushed}")
        return res, notes
    finally:
        w.kill_all()


def main() -> int:
    ap = argparse.ArgumentParser(prog="fault-check")
    ap.add_argument("target", choices=["kafka", "potok"])
    ap.add_argument("binary", nargs="?", help="the potok binary (target potok)")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="2 short trials (the test-suite mode)")
    ap.add_argument("--duration", type=float, default=None, help="seconds of faults per trial (default 25)")
    ap.add_argument("--settle", type=float, default=None, help="seconds to wait for a whole ISR after healing")
    ap.add_argument("--drain-timeout", type=float, default=None,
                    help="seconds for a drain, and for the last stable offsets to reach the high watermarks")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (it is kept on failure)")
    args = ap.parse_args()
    if args.quick:
        args.trials = min(args.trials, 2)
    args.duration = args.duration or (12 if args.quick else 25)
    args.settle = args.settle or (30 if args.quick else 60)
    args.drain_timeout = args.drain_timeout or (30 if args.quick else 60)
    if args.target == "potok" and not args.binary:
        ap.error("potok needs the binary: fault-check potok BINARY")
    if os.geteuid() != 0:
        print("fault-check: needs root (it creates network namespaces)", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    log(f"fault-check {args.target}: seed {seed}, {args.trials} trials of {args.duration:.0f}s "
        f"(replay: --seed {seed} --trials {args.trials})")

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` prints where a run is waiting
    for ns in remove_stale_namespaces():
        log(f"removed namespace {ns} left by a dead run")
    workdir = Path(tempfile.mkdtemp(prefix=f"fault-check-{args.target}-"))
    repo = Path(__file__).resolve().parents[2]
    java = classpath = None
    if args.target == "kafka":
        java, classpath = kafka_java_and_classpath(repo)
    cluster = Cluster(args.target, args.binary and str(Path(args.binary).resolve()), workdir, java, classpath)
    rows = []
    ok = False
    try:
        cluster.setup()
        cluster.net.enter_clients()
        for n in NODES:
            cluster.start(n)
        a = admin()
        started = time.monotonic()
        try:
            # A node that exits at start (a bad binary or config) ends the wait at once.
            wait_until("three brokers in the metadata", 180, lambda: cluster.exited() or brokers_up(a), 1)
            if cluster.exited():
                raise TrialFailure(f"nodes exited at start (node, status): {cluster.exited()}")
        except TrialFailure as e:
            for n in NODES:
                print(f"--- node {n}\n{cluster.tail(n)}", file=sys.stderr)
            raise SystemExit(f"fault-check {args.target}: the cluster did not come up: {e}")
        log(f"three nodes up in {time.monotonic() - started:.1f}s (work dir {workdir})")
        warm_up(a)
        del a
        log(f"coordinators ready in {time.monotonic() - started:.1f}s")
        rng = random.Random(seed)
        for k in range(1, args.trials + 1):
            trial_seed = seed if args.trials == 1 else rng.randrange(1 << 31)
            t0 = time.monotonic()
            try:
                res, notes = run_trial(cluster, k, trial_seed, args, workdir)
            except TrialFailure as e:
                res, notes = checker.Result(), []
                res.add("trial-failed", str(e))
            kinds = res.by_kind()
            faults = len(make_schedule(trial_seed, args.duration))
            status = "PASS" if not kinds else "FAIL"
            log(f"trial {k} {status}: seed {trial_seed}, {faults} faults, {res.acked} acked "
                f"({res.failed} failed), txns {dict(res.txns)}, {res.seen} consumed, {res.commits} commits, "
                f"{time.monotonic() - t0:.0f}s" + (f"; violations {dict(kinds)}" if kinds else ""))
            shown = Counter()
            for kind, detail in res.violations:
                shown[kind] += 1
                if shown[kind] <= 5 and detail:
                    print(f"    {kind}: {detail}", flush=True)
            for kind, n in kinds.items():
                if n > 5:
                    print(f"    {kind}: ... {n - 5} more", flush=True)
            for note in notes:
                print(f"    {note}", flush=True)
            rows.append((k, trial_seed, faults, res.acked, res.seen, kinds, len(res.resent)))
        ok = all(not kinds for *_, kinds, _ in rows)
    finally:
        cluster.close()
        if rows:
            print_summary(args.target, rows)
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"work dir kept: {workdir}")
    return 0 if ok else 1


def print_summary(target: str, rows) -> None:
    kinds = sorted({kind for *_, ks, _ in rows for kind in ks})
    total = Counter()
    for *_, ks, _ in rows:
        total.update(ks)
    print(f"\nfault-check {target}: {len(rows)} trials, {sum(r[2] for r in rows)} faults, "
          f"{sum(r[3] for r in rows)} acknowledged records, "
          f"{sum(1 for *_, ks, _ in rows if ks)} trials with violations, "
          f"{sum(r[6] for r in rows)} records resent by a client under a new producer epoch (not violations)")
    # "consumed" (by the group, during the trial) is liveness, not checked: it shows a group that stalled.
    header = ["trial", "seed", "faults", "acked", "consumed"] + kinds
    print("  ".join(f"{h:>12}" for h in header))
    for k, seed, faults, acked, seen, ks, _ in rows:
        print("  ".join(f"{v:>12}" for v in [k, seed, faults, acked, seen] + [ks.get(kind, 0) for kind in kinds]))
    print("  ".join(f"{v:>12}" for v in ["total", "", sum(r[2] for r in rows), sum(r[3] for r in rows),
                                          sum(r[4] for r in rows)] + [total[kind] for kind in kinds]), flush=True)


if __name__ == "__main__":
    sys.exit(main())
