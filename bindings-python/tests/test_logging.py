"""The engine's log records reach Python's `logging` under `potok.*` logger names."""

from __future__ import annotations

import logging

import potok

from conftest import wait_until


def test_broker_start_and_stop_are_logged_to_python_logging(caplog):
    with caplog.at_level(logging.INFO, logger="potok"):
        with potok.Broker() as broker:
            address = broker.bootstrap_servers

        def logged(text):
            return [r for r in caplog.records if r.name == "potok.net" and text in r.getMessage()]

        started = wait_until(lambda: logged(f"listening on {address}"), timeout=10, what="the start record")
        stopped = wait_until(lambda: logged(f"{address} shut down"), timeout=10, what="the stop record")
    assert started[0].levelno == logging.INFO and started[0].levelname == "INFO"
    assert stopped[0].created >= started[0].created


def test_set_log_level_filters_at_the_source(caplog):
    potok.set_log_level("ERROR")
    try:
        with caplog.at_level(logging.DEBUG, logger="potok"):
            with potok.Broker() as broker:
                quiet_dir = broker.log_dir
            # Another record that is forwarded proves the queue was drained past the broker's records.
            potok.set_log_level("INFO")
            with potok.Broker() as later:
                later_dir = later.log_dir
            wait_until(lambda: any(later_dir in r.getMessage() for r in caplog.records), timeout=10, what="later record")
        assert not [r for r in caplog.records if quiet_dir in r.getMessage()]
    finally:
        potok.set_log_level("INFO")
