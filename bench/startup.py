#!/usr/bin/env python3
"""Start a broker and time how long until its first produce is acknowledged.

usage: startup.py BOOTSTRAP TOPIC LOGFILE WAIT(0|1) -- COMMAND...

Launches COMMAND (stdout/stderr to LOGFILE) and, from the same instant, keeps one librdkafka
producer (acks=1, fast reconnect) trying to deliver a single record to TOPIC (auto-created).
Prints one line: `startup_s=<seconds> pid=<pid of COMMAND>`. COMMAND is left running
With WAIT=1 the script then waits for COMMAND to exit (Kafka: `scripts/kafka.sh start` returns once
the port is open and the broker pid file is written).
"""
import subprocess, sys, time
from confluent_kafka import Producer

bootstrap, topic, logfile, wait = sys.argv[1:5]
assert sys.argv[5] == "--"
cmd = sys.argv[6:]
DEADLINE_S = 120.0

t0 = time.monotonic()
with open(logfile, "wb") as log:
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

done = {}
def on_delivery(err, msg):
    if err is None:
        done.setdefault("t", time.monotonic())

p = Producer({
    "bootstrap.servers": bootstrap,
    "acks": 1,
    "linger.ms": 0,
    "reconnect.backoff.ms": 10,
    "reconnect.backoff.max.ms": 20,
    "topic.metadata.refresh.interval.ms": 50,
    "retry.backoff.ms": 10,
    "retry.backoff.max.ms": 20,
    "message.timeout.ms": int(DEADLINE_S * 1000),
    "log_level": 0,
})
p.produce(topic, b"hello", on_delivery=on_delivery)
while "t" not in done and time.monotonic() - t0 < DEADLINE_S:
    p.poll(0.005)
    if proc.poll() not in (None, 0):
        break
p.flush(5)
if "t" not in done:
    print(f"startup_s=FAIL pid={proc.pid} rc={proc.poll()}")
    sys.exit(1)
if wait == "1":
    proc.wait(timeout=DEADLINE_S)
print(f"startup_s={done['t'] - t0:.3f} pid={proc.pid}")
