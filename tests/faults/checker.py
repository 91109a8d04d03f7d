"""The checker: what the workloads recorded against what a fresh consumer drained after the faults healed.

Per partition of the idempotent topic (no transactions in it):
    lost          an acknowledged record is not in the log (nor anywhere else in the topic); one acknowledged
                  without an offset (a retried duplicate, as librdkafka reports it) must be in its partition
    moved         an acknowledged record is in the log, but not at its acknowledged offset
    duplicate     a value is in the topic more than once (idempotence and transactions promise once); unless
                  `reclassify_resends` finds it a client's resend after an epoch bump (see there)
    reordered     one producer's records of one partition are not in the order it produced them
    gap           an offset between the log start and the high watermark holds no record
    phantom       a record no workload produced
    rc-mismatch   read_committed and read_uncommitted drains differ (there are no transactions in it)
Per partition of the transactional topic:
    lost          a record of a committed transaction is not visible to read_committed at its offset
    aborted-read  a record of an aborted transaction was seen by a read_committed consumer (drain or group)
    partial-txn   read_committed sees some but not all records of one transaction
    gap           offsets between the log start and the high watermark that hold no data record are the
                  transaction markers (one per transaction and partition): fewer than the transactions known to
                  have ended with a record there, or more than the transactions that tried it, is a gap
    duplicate, phantom, rc-mismatch (a read_committed record not at the same offset under read_uncommitted)
    open-transaction  (found by the drain) the last stable offset stays below the high watermark after every
                  producer stopped and the transaction timeout passed: a transaction never ended
For the consumer group:
    seen-lost     a group member consumed a record that is not in the log at that offset afterwards (consumers
                  read below the high watermark only, so what they see must survive any single failure)
    offset-backwards  a committed offset of the group is smaller than one committed (observed) before it
    offset-beyond-end a committed offset beyond the partition's high watermark
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

Log = dict[int, list[tuple[int, str]]]  # partition -> [(offset, value)] in offset order


@dataclass
class Outputs:
    acked_topic: str
    txn_topic: str
    producers: dict[str, list[dict]]
    txns: list[dict]
    consumers: dict[str, list[dict]]
    monitor: list[dict]
    drain_ru: dict[str, Log]
    drain_rc: dict[str, Log]
    watermarks: dict[str, dict[int, tuple[int, int]]]


@dataclass
class Result:
    violations: list[tuple[str, str]] = field(default_factory=list)
    acked: int = 0
    acked_no_offset: int = 0
    failed: int = 0
    txns: Counter = field(default_factory=Counter)
    seen: int = 0
    commits: int = 0

    # Duplicates of the idempotent topic as (value, [(partition, offset)], acknowledged (partition, offset)),
    # for `reclassify_resends`; and those it found to be a client's resends (reported, not violations).
    acked_duplicates: list[tuple[str, list[tuple[int, int]], tuple[int, int] | None]] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    # Records of the idempotent topic found after a later record of their producer: ((partition, offset), detail).
    acked_reorders: list[tuple[tuple[int, int], str]] = field(default_factory=list)

    def add(self, kind: str, detail: str) -> None:
        self.violations.append((kind, detail))

    def by_kind(self) -> Counter:
        return Counter(kind for kind, _ in self.violations)


def _index(log: Log) -> dict[int, dict[int, str]]:
    return {p: dict(records) for p, records in log.items()}


def _check_gaps_plain(res: Result, topic: str, log: Log, marks: dict[int, tuple[int, int]]) -> None:
    for p, (low, high) in sorted(marks.items()):
        offsets = [o for o, _ in log.get(p, [])]
        missing = sorted(set(range(low, high)) - set(offsets))
        if missing:
            res.add("gap", f"{topic}-{p}: {len(missing)} offsets in [{low}, {high}) hold no record, "
                           f"first {missing[:5]}")
        beyond = [o for o in offsets if o >= high or o < low]
        if beyond:
            res.add("gap", f"{topic}-{p}: records outside [{low}, {high}): {beyond[:5]}")


def _duplicate_detail(topic: str, value: str, where: list[tuple[int, int]]) -> str:
    return f"{topic}: {value!r} {len(where)} times at {where[:4]}"


def _check_duplicates(res: Result, topic: str, log: Log,
                      acked_at: dict[str, tuple[int, int]] | None = None) -> Counter:
    counts = Counter(v for records in log.values() for _, v in records)
    for value, n in counts.items():
        if n > 1:
            where = [(p, o) for p, records in log.items() for o, v in records if v == value]
            res.add("duplicate", _duplicate_detail(topic, value, where))
            if acked_at is not None:
                res.acked_duplicates.append((value, where, acked_at.get(value)))
    return counts


def reclassify_resends(res: Result, topic: str, batch_of) -> None:
    """Takes out of the violations the duplicates of the idempotent topic that a client wrote by re-sending
    under a new producer epoch, and lists them in `res.resent`.

    librdkafka, after an OUT_OF_ORDER_SEQUENCE_NUMBER it blames on an earlier failed request, bumps its producer
    epoch and sends again every message it has no acknowledgement for, including one whose earlier attempt was
    answered "possibly persisted" (NOT_ENOUGH_REPLICAS_AFTER_APPEND, a timeout) and is in the log. A new epoch
    starts a new sequence space, so no broker can recognise the copy; Kafka's brokers answer the same. Such a
    duplicate is told apart from a broker's by the batches holding the copies: `batch_of(partition, offset)`
    gives the (producer id, producer epoch) of the batch at that offset, or None. A duplicate is the client's
    resend when every copy is in one partition, written by one producer id under a different epoch each, and the
    acknowledged copy is the one of the newest epoch (the earlier ones were never acknowledged). Anything else
    stays a violation. A resent copy is out of its producer's order when the client re-sent several messages
    (each copy after the first comes after a higher sequence number already in the log); those "reordered"
    findings go with it, and only those.
    """
    resent_copies: set[tuple[int, int]] = set()
    for value, where, acked in res.acked_duplicates:
        batches = [batch_of(p, o) for p, o in where]
        if any(b is None for b in batches) or len({p for p, _ in where}) != 1:
            continue
        pids = {pid for pid, _ in batches}
        epochs = [epoch for _, epoch in batches]
        if len(pids) != 1 or min(pids) < 0 or len(set(epochs)) != len(epochs) or acked is None:
            continue
        newest = where[epochs.index(max(epochs))]
        if acked != newest:
            continue
        detail = _duplicate_detail(topic, value, where)
        if ("duplicate", detail) not in res.violations:
            continue
        res.violations.remove(("duplicate", detail))
        res.resent.append(f"{detail}: producer {min(pids)} under epochs {epochs}, acknowledged at {acked}")
        resent_copies.update(c for c in where if c != where[0])
    for at, detail in res.acked_reorders:
        if at in resent_copies and ("reordered", detail) in res.violations:
            res.violations.remove(("reordered", detail))


def check(out: Outputs) -> Result:
    res = Result()
    check_acked(res, out)
    check_txn(res, out)
    check_group(res, out)
    return res


def check_acked(res: Result, out: Outputs) -> None:
    topic = out.acked_topic
    ru = out.drain_ru.get(topic, {})
    rc = out.drain_rc.get(topic, {})
    at = _index(ru)
    where = {v: (p, o) for p, records in ru.items() for o, v in records}
    for wid, lines in sorted(out.producers.items()):
        for line in lines:
            if "fail" in line:
                res.failed += 1
            if "ack" not in line:
                continue
            res.acked += 1
            p, offset, seq = line["ack"]
            value = f"{wid}-{seq}"
            got = at.get(p, {}).get(offset)
            if got == value:
                continue
            if offset is None and where.get(value, (None,))[0] == p:
                # Acknowledged without an offset: librdkafka reports a retried batch that the broker found to be
                # a duplicate (DUPLICATE_SEQUENCE_NUMBER) as delivered, with no offset.
                res.acked_no_offset += 1
                continue
            if value in where:
                res.add("moved", f"{topic}-{p}: {value!r} acknowledged at offset {offset}, found at "
                                 f"{where[value]}")
            else:
                low, high = out.watermarks.get(topic, {}).get(p, (None, None))
                res.add("lost", f"{topic}-{p}: {value!r} acknowledged at offset {offset}, not in the log "
                                f"[{low}, {high}) (offset {offset} holds {got!r})")
    acked_at = {f"{wid}-{line['ack'][2]}": (line["ack"][0], line["ack"][1])
                for wid, lines in out.producers.items() for line in lines if "ack" in line}
    counts = _check_duplicates(res, topic, ru, acked_at)
    produced = {wid: max([line["produced"] for line in lines if line.get("event") == "done"] or [None])
                for wid, lines in out.producers.items()}
    for value in counts:
        m = re.fullmatch(r"(.+)-(\d+)", value)
        # A record counts as produced if its producer made that sequence number; a producer whose output has no
        # final count (killed before it wrote it) vouches for any of its sequence numbers.
        if m and m.group(1) in produced and (produced[m.group(1)] is None or int(m.group(2)) < produced[m.group(1)]):
            continue
        res.add("phantom", f"{topic}: {value!r} was never produced")
    for p, records in sorted(ru.items()):
        last: dict[str, int] = {}
        for offset, value in records:
            m = re.fullmatch(r"(.+)-(\d+)", value)
            if not m:
                continue
            wid, seq = m.group(1), int(m.group(2))
            if wid in last and seq < last[wid]:
                detail = f"{topic}-{p}: {value!r} at offset {offset} after {wid}-{last[wid]}"
                res.add("reordered", detail)
                res.acked_reorders.append(((p, offset), detail))
            last[wid] = max(seq, last.get(wid, -1))
    _check_gaps_plain(res, topic, ru, out.watermarks.get(topic, {}))
    for p in sorted(set(ru) | set(rc)):
        if ru.get(p, []) != rc.get(p, []):
            a, b = ru.get(p, []), rc.get(p, [])
            first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            res.add("rc-mismatch", f"{topic}-{p}: read_uncommitted has {len(a)} records, read_committed "
                                   f"{len(b)}, first difference at index {first}")


def check_txn(res: Result, out: Outputs) -> None:
    topic = out.txn_topic
    ru = out.drain_ru.get(topic, {})
    rc = out.drain_rc.get(topic, {})
    ru_at, rc_at = _index(ru), _index(rc)
    rc_values = {v for records in rc.values() for _, v in records}
    rc_parts = {p: {v for _, v in records} for p, records in rc.items()}
    aborted: set[str] = set()
    attempted_parts: dict[int, int] = Counter()  # partition -> transactions that produced to it
    ended_parts: dict[int, int] = Counter()  # partition -> transactions that ended with a record there
    produced: set[str] = set()
    for t in out.txns:
        res.txns[t["outcome"]] += 1
        values = t["values"]
        produced.update(v for _, v, _ in values)
        for p in {p for p, _, _ in values}:
            attempted_parts[p] += 1
        if t["outcome"] != "unknown":
            for p in {p for p, v, o in values if o is not None and ru_at.get(p, {}).get(o) == v}:
                ended_parts[p] += 1
        if t["outcome"] == "committed":
            for p, v, o in values:
                if o is None and v in rc_parts.get(p, set()):
                    continue  # delivered without an offset (a retried duplicate): it must be in its partition
                if rc_at.get(p, {}).get(o) != v:
                    res.add("lost", f"{topic}-{p}: {v!r} of committed transaction {t['txn']} (offset {o}) is not "
                                    f"visible to read_committed at that offset")
        elif t["outcome"] == "aborted":
            aborted.update(v for _, v, _ in values)
        visible = [v for _, v, _ in values if v in rc_values]
        if visible and len(visible) != len(values) and t["outcome"] != "committed":
            res.add("partial-txn", f"{topic}: transaction {t['txn']} ({t['outcome']}): read_committed sees "
                                   f"{len(visible)} of its {len(values)} records")
    for v in sorted(aborted & rc_values):
        res.add("aborted-read", f"{topic}: read_committed drain returned {v!r} of an aborted transaction")
    _check_duplicates(res, topic, ru)
    for v in sorted({v for records in ru.values() for _, v in records} - produced):
        # The transaction of a killed txn workload may be missing from its output; its values still match.
        if not re.fullmatch(r".+-t\d+-\d+", v):
            res.add("phantom", f"{topic}: {v!r} was never produced")
    for p, records in sorted(rc.items()):
        for o, v in records:
            if ru_at.get(p, {}).get(o) != v:
                res.add("rc-mismatch", f"{topic}-{p}: read_committed has {v!r} at {o}, read_uncommitted "
                                       f"{ru_at.get(p, {}).get(o)!r}")
    # Every transaction that ended with a record in a partition left a marker there. There is no upper bound:
    # a coordinator that takes over a transaction it finds still completing (PrepareCommit/PrepareAbort) sends
    # its markers again, as Kafka's does, so one transaction can leave several (committed records are checked
    # at their offsets above).
    for p, (low, high) in sorted(out.watermarks.get(topic, {}).items()):
        offsets = {o for o, _ in ru.get(p, [])}
        markers = len(set(range(low, high)) - offsets)
        if markers < ended_parts[p]:
            res.add("gap", f"{topic}-{p}: {markers} offsets in [{low}, {high}) hold no data record; "
                           f"at least {ended_parts[p]} transaction markers expected "
                           f"({attempted_parts[p]} transactions wrote there)")


def check_group(res: Result, out: Outputs) -> None:
    index = {topic: _index(log) for topic, log in out.drain_ru.items()}
    aborted = {v for t in out.txns if t["outcome"] == "aborted" for _, v, _ in t["values"]}
    lost_seen = 0
    for wid, lines in sorted(out.consumers.items()):
        for line in lines:
            if "seen" in line:
                res.seen += 1
                topic, p, o, v = line["seen"]
                if index.get(topic, {}).get(p, {}).get(o) != v:
                    lost_seen += 1
                    if lost_seen <= 20:
                        res.add("seen-lost", f"{topic}-{p}: {wid} consumed {v!r} at offset {o}; the log now has "
                                             f"{index.get(topic, {}).get(p, {}).get(o)!r} there")
                    else:
                        res.add("seen-lost", "")
                if v in aborted:
                    res.add("aborted-read", f"{topic}-{p}: {wid} (read_committed) consumed {v!r} of an aborted "
                                            f"transaction at offset {o}")
            elif "commit" in line:
                res.commits += 1
    last: dict[tuple[str, int], int] = {}
    for poll in out.monitor:
        for topic, p, o in poll.get("offsets", []):
            key = (topic, p)
            if key in last and o < last[key]:
                res.add("offset-backwards", f"{topic}-{p}: committed offset {o} observed after {last[key]}")
            last[key] = max(o, last.get(key, -1))
    for (topic, p), o in sorted(last.items()):
        high = out.watermarks.get(topic, {}).get(p, (0, None))[1]
        if high is not None and o > high:
            res.add("offset-beyond-end", f"{topic}-{p}: committed offset {o} beyond the high watermark {high}")
