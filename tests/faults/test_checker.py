"""The checker against histories made by hand: a clean one passes, and each kind of damage is named.

    cd tests && python -m pytest -q faults/test_checker.py
"""

from __future__ import annotations

import copy

from faults.checker import Outputs, check, reclassify_resends


def clean() -> Outputs:
    # Partition 0 of the idempotent topic: p0-0 and p0-2 at 0 and 1; partition 1: p0-1 at 0, and p0-3 failed
    # (never in the log). The transactional topic, partition 0: committed t1 at 0-1, its marker at 2, aborted
    # t2 at 3, its marker at 4.
    return Outputs(
        acked_topic="a", txn_topic="t",
        producers={"p0": [{"ack": [0, 0, 0]}, {"ack": [1, 0, 1]}, {"ack": [0, 1, 2]}, {"fail": 3, "err": "x"},
                          {"event": "done", "produced": 4, "unflushed": 0}]},
        txns=[{"txn": 1, "outcome": "committed", "values": [[0, "x-t1-0", 0], [0, "x-t1-1", 1]]},
              {"txn": 2, "outcome": "aborted", "values": [[0, "x-t2-0", 3]]}],
        consumers={"c0": [{"seen": ["a", 0, 0, "p0-0"]}, {"seen": ["t", 0, 1, "x-t1-1"]},
                          {"commit": [["a", 0, 1]]}]},
        monitor=[{"offsets": [["a", 0, 1]]}, {"offsets": [["a", 0, 2]]}],
        drain_ru={"a": {0: [(0, "p0-0"), (1, "p0-2")], 1: [(0, "p0-1")]},
                  "t": {0: [(0, "x-t1-0"), (1, "x-t1-1"), (3, "x-t2-0")]}},
        drain_rc={"a": {0: [(0, "p0-0"), (1, "p0-2")], 1: [(0, "p0-1")]},
                  "t": {0: [(0, "x-t1-0"), (1, "x-t1-1")]}},
        watermarks={"a": {0: (0, 2), 1: (0, 1)}, "t": {0: (0, 5)}},
    )


def kinds(out: Outputs) -> dict[str, int]:
    return dict(check(out).by_kind())


def test_a_clean_history_passes():
    res = check(clean())
    assert res.violations == []
    assert (res.acked, res.failed, res.seen, res.commits) == (3, 1, 2, 1)


def test_a_lost_acknowledged_record():
    out = clean()
    for d in (out.drain_ru, out.drain_rc):
        d["a"][0] = [(0, "p0-0")]
    out.watermarks["a"][0] = (0, 1)
    # The group's committed offset 2 (from the monitor) is now past the end of the log too.
    assert kinds(out) == {"lost": 1, "offset-beyond-end": 1}


def test_a_record_acknowledged_without_an_offset():
    out = clean()
    out.producers["p0"][2] = {"ack": [0, None, 2]}
    assert kinds(out) == {}
    out.producers["p0"][2] = {"ack": [1, None, 2]}
    assert kinds(out) == {"moved": 1}


def test_a_record_at_another_offset_a_duplicate_and_a_gap():
    out = clean()
    for d in (out.drain_ru, out.drain_rc):
        d["a"][0] = [(0, "p0-0"), (2, "p0-2"), (3, "p0-2")]
    out.watermarks["a"][0] = (0, 4)
    assert kinds(out) == {"moved": 1, "duplicate": 1, "gap": 1}


def test_a_resend_under_a_new_epoch_is_told_from_a_broker_duplicate():
    # p0-2 is at 1 (epoch 0, never acknowledged) and again at 2 (epoch 1, acknowledged there): the client's resend.
    out = clean()
    out.producers["p0"][2] = {"ack": [0, 2, 2]}
    for d in (out.drain_ru, out.drain_rc):
        d["a"][0] = [(0, "p0-0"), (1, "p0-2"), (2, "p0-2")]
    out.watermarks["a"][0] = (0, 3)
    epochs = {(0, 0): (7, 0), (0, 1): (7, 0), (0, 2): (7, 1)}
    res = check(out)
    assert dict(res.by_kind()) == {"duplicate": 1}
    reclassify_resends(res, "a", lambda p, o: epochs.get((p, o)))
    assert res.violations == [] and len(res.resent) == 1 and "epochs [0, 1]" in res.resent[0]
    # The same copies under one epoch, or acknowledged at the older copy, or unknown batches: the broker's.
    for batch_of in ({(0, 1): (7, 1), (0, 2): (7, 1)}.get, {(0, 1): (7, 1), (0, 2): (7, 0)}.get,
                     {(0, 1): (7, 0), (0, 2): (8, 1)}.get, {}.get):
        res = check(out)
        reclassify_resends(res, "a", lambda p, o, f=batch_of: f((p, o)))
        assert dict(res.by_kind()) == {"duplicate": 1} and res.resent == []


def test_several_messages_resent_under_a_new_epoch_are_not_reordered_records():
    # p0-0 and p0-2 were written at 0 and 1 under epoch 0, never acknowledged, and written again at 2 and 3
    # under epoch 1 (acknowledged there): p0-0 at 2 comes after p0-2, which the resend explains.
    out = clean()
    out.producers["p0"][0] = {"ack": [0, 2, 0]}
    out.producers["p0"][2] = {"ack": [0, 3, 2]}
    for d in (out.drain_ru, out.drain_rc):
        d["a"][0] = [(0, "p0-0"), (1, "p0-2"), (2, "p0-0"), (3, "p0-2")]
    out.watermarks["a"][0] = (0, 4)
    epochs = {(0, 0): (7, 0), (0, 1): (7, 0), (0, 2): (7, 1), (0, 3): (7, 1)}
    res = check(out)
    assert dict(res.by_kind()) == {"duplicate": 2, "reordered": 1}
    reclassify_resends(res, "a", lambda p, o: epochs.get((p, o)))
    assert res.violations == [] and len(res.resent) == 2
    # Under one epoch both stay the broker's violations.
    res = check(out)
    reclassify_resends(res, "a", lambda p, o: (7, 0))
    assert dict(res.by_kind()) == {"duplicate": 2, "reordered": 1}


def test_reordered_and_phantom_records():
    out = clean()
    for d in (out.drain_ru, out.drain_rc):
        d["a"][1] = [(0, "p0-1"), (1, "p0-0x"), (2, "p9-1")]
    out.watermarks["a"][1] = (0, 3)
    assert kinds(out) == {"phantom": 2}
    out = clean()
    for d in (out.drain_ru, out.drain_rc):
        d["a"][0] = [(0, "p0-2"), (1, "p0-0")]
    # c0 consumed p0-0 at offset 0, which now holds p0-2.
    assert kinds(out) == {"moved": 2, "reordered": 1, "seen-lost": 1}


def test_read_committed_must_match_read_uncommitted_without_transactions():
    out = clean()
    out.drain_rc["a"][1] = []
    assert kinds(out) == {"rc-mismatch": 1}


def test_aborted_records_seen_by_read_committed():
    out = clean()
    out.drain_rc["t"][0].append((3, "x-t2-0"))
    out.consumers["c0"].append({"seen": ["t", 0, 3, "x-t2-0"]})
    assert kinds(out) == {"aborted-read": 2}


def test_a_committed_transaction_must_be_visible_whole():
    out = clean()
    out.drain_rc["t"][0] = [(0, "x-t1-0")]
    assert kinds(out) == {"lost": 1}
    out = clean()
    out.txns.append({"txn": 3, "outcome": "unknown", "values": [[0, "x-t3-0", 5], [0, "x-t3-1", 6]]})
    out.drain_ru["t"][0] += [(5, "x-t3-0"), (6, "x-t3-1")]
    out.drain_rc["t"][0] += [(5, "x-t3-0")]
    out.watermarks["t"][0] = (0, 8)
    assert kinds(out) == {"partial-txn": 1}


def test_transaction_markers_account_for_the_gaps():
    out = clean()
    out.watermarks["t"][0] = (0, 4)  # one marker missing: t2 ended with a record there
    assert kinds(out) == {"gap": 1}
    out = clean()
    # More holes than transactions: a coordinator that took a transaction over while it completed wrote its
    # markers again (Kafka's does too).
    out.watermarks["t"][0] = (0, 7)
    assert kinds(out) == {}


def test_group_offsets_and_consumed_records():
    out = clean()
    out.monitor.append({"offsets": [["a", 0, 1]]})
    assert kinds(out) == {"offset-backwards": 1}
    out = clean()
    out.monitor.append({"offsets": [["a", 0, 9]]})
    assert kinds(out) == {"offset-beyond-end": 1}
    out = copy.deepcopy(clean())
    out.consumers["c0"].append({"seen": ["a", 1, 1, "p0-3"]})
    assert kinds(out) == {"seen-lost": 1}
