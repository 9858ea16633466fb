"""The baseline: a bare confluent-kafka consume→produce relay on the same broker.

It does what any Kafka stage must do at the least (consume, produce, flush,
commit) and nothing else, so the pipeline's figure divided by the relay's says
how much of the machine the audit work costs, on whatever machine runs it.
"""

from __future__ import annotations

import threading
import time
import uuid

from confluent_kafka import Consumer, Producer

from agentaudit.bench.stats import percentiles


def _producer(bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5,
                     "compression.type": "lz4"})


def _consumer(bootstrap: str, topic: str) -> Consumer:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    return consumer


def relay(bootstrap: str, source: str, target: str, count: int, stop: threading.Event | None = None,
          wait_s: float = 0.2) -> float:
    """Relay `count` messages from source to target; seconds from the first consumed to the last acknowledged.

    wait_s bounds how long one consume() waits to fill a batch: long for
    throughput, a few milliseconds when latency is measured.
    """
    consumer, producer = _consumer(bootstrap, source), _producer(bootstrap)
    moved, started = 0, 0.0
    try:
        while moved < count and not (stop and stop.is_set()):
            batch = consumer.consume(10_000, timeout=wait_s)
            if batch and not started:
                started = time.perf_counter()
            for msg in batch:
                # Keep the input's timestamp so latency can be read at the far end.
                producer.produce(target, msg.value(), msg.key(), partition=msg.partition() or 0,
                                 timestamp=msg.timestamp()[1])
                moved += 1
            producer.poll(0)
            if batch:
                producer.flush()
                consumer.commit(asynchronous=True)
        return time.perf_counter() - started
    finally:
        producer.flush()
        consumer.close()


def preload(bootstrap: str, topic: str, values: list[tuple[bytes, bytes]]) -> None:
    producer = _producer(bootstrap)
    for key, value in values:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush()


def relay_latency(bootstrap: str, source: str, target: str, values: list[tuple[bytes, bytes]], rate: float) -> dict[str, float]:
    """Send values at `rate`/s through a running relay; p50/p99 from send to readable at the far end."""
    stop = threading.Event()
    worker = threading.Thread(target=relay, args=(bootstrap, source, target, len(values), stop, 0.005), daemon=True)
    reader = _consumer(bootstrap, target)
    worker.start()
    reader.consume(1, timeout=2.0)  # join the group before the clock starts
    latencies: list[float] = []
    sender = threading.Thread(target=_send_paced, args=(bootstrap, source, values, rate), daemon=True)
    sender.start()
    deadline = time.monotonic() + len(values) / rate + 30
    while len(latencies) < len(values) and time.monotonic() < deadline:
        for msg in reader.consume(1000, timeout=0.005):
            latencies.append(time.time() - msg.timestamp()[1] / 1000)
    stop.set()
    reader.close()
    return percentiles(latencies)


def _send_paced(bootstrap: str, topic: str, values: list[tuple[bytes, bytes]], rate: float) -> None:
    producer = _producer(bootstrap)
    started = time.monotonic()
    for i, (key, value) in enumerate(values):
        ahead = i / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
        producer.produce(topic, value, key)  # CreateTime = now: the send time
        producer.poll(0)
    producer.flush()
