"""The produce, consume and group part of differential.test.ts's quickstart, with a Python client.

    python differential_clients.py confluent|confluent-consumer-protocol|confluent-producer-expiry|confluent-compacted|confluent-transactions|kafka-python BOOTSTRAP TOPIC GROUP

confluent-kafka (librdkafka) or kafka-python, from PyPI (a venv in test/interop/.build/, made by
setup.sh); `confluent-consumer-protocol` is confluent-kafka with group.protocol=consumer (KIP-848,
compared with Kafka 4.x only). Prints one JSON line per step, {"step": ..., "result": ...}, with what the client saw,
in an order that does not depend on timing (sorted), so that the test can compare servers:

- create: the topic, 3 partitions, with the client's admin API;
- produce: 9 keyed records, acks=all; each acknowledgement's key, partition and offset;
- consume: a group member reads from the earliest offset until it has 9 records, commits, leaves;
- committed: the group's committed offsets, per partition;
- groups: whether the admin API lists the group, and its state;
- produce-more and consume-more: 3 more records; a new member of the same group gets exactly those.

`confluent-producer-expiry` is another scenario: an idempotent producer idle past the server's
producer.id.expiration.ms goes on with its sequences (`producer_expiry`); `confluent-compacted`
another: librdkafka on a compacted topic, keys, a tombstone and a record without a key (`compacted`);
`confluent-transactions` another: librdkafka's transactional producer and read_committed consumer
(`transactions`).
"""

import json
import sys
import time

CLIENT, BOOTSTRAP, TOPIC, GROUP = sys.argv[1:5]
PARTITIONS = 3
FIRST = [("alice", "a1"), ("bob", "b1"), ("carol", "c1"), ("dave", "d1"), ("erin", "e1"), ("frank", "f1"),
         ("grace", "g1"), ("heidi", "h1"), ("ivan", "i1")]
MORE = [("judy", "j1"), ("mallory", "m1"), ("oscar", "o1")]
DEADLINE_S = 60
# How long confluent-producer-expiry's producer stays idle: past the 2 s producer.id.expiration.ms and Kafka's 0.5 s check.
IDLE_S = 4


def emit(step, result):
    print(json.dumps({"step": step, "result": result}, sort_keys=True), flush=True)


def confluent():
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})

    def create():
        future = admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=1)])[TOPIC]
        future.result(30)
        # Kafka answers CreateTopics before every broker's metadata has the partitions: ask until it has them.
        deadline = time.time() + DEADLINE_S
        while True:
            partitions = len(admin.list_topics(TOPIC, timeout=30).topics[TOPIC].partitions)
            if partitions > 0 or time.time() > deadline:
                return {"topic": TOPIC, "partitions": partitions}
            time.sleep(0.2)

    def produce(records):
        producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "partitioner": "murmur2_random"})
        acks = []

        def delivered(error, message):
            acks.append([message.key().decode(), message.partition(), message.offset(), str(error) if error else None])

        for key, value in records:
            producer.produce(TOPIC, key=key.encode(), value=value.encode(), on_delivery=delivered)
        producer.flush(30)
        return sorted(acks)

    def consume(count):
        config = {"bootstrap.servers": BOOTSTRAP, "group.id": GROUP, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False}
        if CLIENT == "confluent-consumer-protocol":
            config["group.protocol"] = "consumer"
        consumer = Consumer(config)
        consumer.subscribe([TOPIC])
        records = []
        deadline = time.time() + DEADLINE_S
        while len(records) < count and time.time() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            records.append([message.partition(), message.offset(), message.key().decode(), message.value().decode()])
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=30)
        consumer.close()
        return sorted(records), sorted([tp.partition, tp.offset] for tp in committed)

    def groups():
        listed = admin.list_consumer_groups().result(30)
        states = {g.group_id: str(g.state).split(".")[-1] for g in listed.valid}
        return {"listed": GROUP in states, "state": states.get(GROUP)}

    return create, produce, consume, groups


def kafka_python():
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)

    def create():
        admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=1)])
        described = admin.describe_topics([TOPIC])
        return {"topic": TOPIC, "partitions": len(described[0]["partitions"])}

    def produce(records):
        producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
        futures = [(key, producer.send(TOPIC, key=key.encode(), value=value.encode())) for key, value in records]
        acks = []
        for key, future in futures:
            metadata = future.get(timeout=30)
            acks.append([key, metadata.partition, metadata.offset, None])
        producer.close()
        return sorted(acks)

    def consume(count):
        consumer = KafkaConsumer(TOPIC, bootstrap_servers=BOOTSTRAP, group_id=GROUP, auto_offset_reset="earliest",
                                 enable_auto_commit=False)
        records = []
        deadline = time.time() + DEADLINE_S
        while len(records) < count and time.time() < deadline:
            for batch in consumer.poll(timeout_ms=1000).values():
                for message in batch:
                    records.append([message.partition, message.offset, message.key.decode(), message.value.decode()])
        consumer.commit()
        committed = sorted([p, consumer.committed(TopicPartition(TOPIC, p))] for p in range(PARTITIONS))
        consumer.close()
        return sorted(records), committed

    def groups():
        listed = {group["group_id"]: group["group_state"] for group in admin.list_groups()}
        described = admin.describe_groups([GROUP])[GROUP]
        return {"listed": GROUP in listed, "state": listed.get(GROUP), "described": described["group_state"]}

    return create, produce, consume, groups


def read_partition(count, convert):
    """Partition 0 of TOPIC from offset 0 with confluent-kafka, until `count` records (or DEADLINE_S): each as `convert` makes it."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": GROUP, "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, 0, 0)])
    records, deadline = [], time.time() + DEADLINE_S
    while len(records) < count and time.time() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            records.append(convert(message))
    consumer.close()
    return records


def producer_expiry():
    """confluent-producer-expiry: one idempotent producer writes, stays idle past the server's
    producer.id.expiration.ms (differential.test.ts starts every server with 2 s), then goes on with its
    next sequences, which the server must take (Kafka accepts any sequence from a producer it has no
    state for on a partition that has held records); then the partition is read from the start."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])[TOPIC].result(30)
    emit("create", TOPIC)
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True, "message.timeout.ms": 30000})

    def produce(label):
        acks = []
        for i in range(3):
            producer.produce(TOPIC, partition=0, value=f"{label}{i}".encode(),
                             on_delivery=lambda error, message: acks.append(str(error) if error else message.offset()))
            producer.flush(30)
        return acks

    emit("produce-first", produce("a"))
    time.sleep(IDLE_S)
    emit("produce-after", produce("b"))
    records = read_partition(6, lambda message: f"{message.offset()}:{message.value().decode()}")
    emit("consume", records)


def compacted():
    """confluent-compacted: a one-partition topic created with cleanup.policy=compact; its config as
    described; keyed records, then a record without a key (refused: INVALID_RECORD, as Kafka's
    LogValidator refuses it), then a tombstone (a key with no value), each in a request of its own;
    then the partition read from the start, tombstone included (nothing is cleaned yet)."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1,
                                  config={"cleanup.policy": "compact"})])[TOPIC].result(30)
    emit("create", TOPIC)
    resource = ConfigResource("topic", TOPIC)
    deadline = time.time() + DEADLINE_S
    while True:  # Kafka answers CreateTopics before every broker has the topic
        try:
            described = admin.describe_configs([resource])[resource].result(30)
            break
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    emit("config", described["cleanup.policy"].value)
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "retries": 0, "message.timeout.ms": 30000})

    def produce(records):
        acks = []
        for key, value in records:
            producer.produce(TOPIC, partition=0, key=key, value=value,
                             on_delivery=lambda error, message: acks.append(error.name() if error else message.offset()))
        producer.flush(30)
        return acks

    emit("produce-keyed", produce([(b"a", b"a1"), (b"b", b"b1"), (b"a", b"a2")]))
    emit("produce-keyless", produce([(None, b"no key")]))
    emit("produce-tombstone", produce([(b"b", None)]))
    records = read_partition(4, lambda message: [message.offset(), message.key().decode(),
                                                 message.value().decode() if message.value() is not None else None])
    emit("consume", records)


def transactions():
    """confluent-transactions: librdkafka's transactional producer and its read_committed consumer.

    TOPIC-in (2 partitions) and TOPIC-out (1); transactional ids TOPIC-txn and TOPIC-ctp; GROUP for
    consume-transform-produce. Every record is flushed before its transaction ends (librdkafka purges
    what is unsent on abort), so the offsets are the same on every run: a transaction's marker takes the
    offset after its records on each partition it wrote (3 records at 0-2, the commit marker at 3).
    Steps:

    - create: both topics;
    - commit, abort, commit-again: 3, 2 and 1 records per partition (explicit partitions), each
      delivery's [partition, offset, value];
    - read-committed, read-uncommitted: TOPIC-in from the start to its end (partition EOF, which for
      read_committed is at the last stable offset): the records returned (never a marker; no aborted
      record for read_committed) and the positions there (past the last marker);
    - open-transaction: one record to partition 0 in a transaction left open: a read_committed consumer
      assigned at its offset gets nothing in 3 s (but EOF), a read_uncommitted one gets it; the latest
      offset the admin client lists per isolation level and each consumer's watermark query (librdkafka
      lists with its isolation level: the last stable offset against the high watermark); after the
      commit the read_committed consumer gets the record, and both levels list the same end;
    - consume-transform-produce: a consumer of GROUP (subscribed, read_committed, no auto commit) reads
      TOPIC-in to its end; a transactional producer writes the values upper-cased to TOPIC-out and
      commits the consumer's positions with send_offsets_to_transaction; TOPIC-out read read_committed,
      and GROUP's committed offsets;
    - fenced: a second producer with TOPIC-txn's id (init_transactions) fences the first: what the
      first's begin_transaction, produce, commit_transaction and its record's delivery report answer
      (KafkaError names and flags, as librdkafka reports them); then the new instance commits a record
      to partition 1, which a read_committed read shows, and no record of the zombie's.
    """
    from confluent_kafka import Consumer, IsolationLevel, KafkaError, KafkaException, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

    source, sink = f"{TOPIC}-in", f"{TOPIC}-out"
    common = {"bootstrap.servers": BOOTSTRAP, "client.id": "interop-txn-confluent"}  # client.id: in Kafka's request log
    admin = AdminClient(common)
    futures = admin.create_topics([NewTopic(source, num_partitions=2, replication_factor=1),
                                   NewTopic(sink, num_partitions=1, replication_factor=1)])
    for future in futures.values():
        future.result(30)
    deadline = time.time() + DEADLINE_S
    while True:  # Kafka answers CreateTopics before every broker's metadata has the partitions
        topics = admin.list_topics(timeout=30).topics
        counts = {name: len(topics[name].partitions) if name in topics else 0 for name in (source, sink)}
        if all(counts.values()) or time.time() > deadline:
            break
        time.sleep(0.2)
    emit("create", counts)

    def transactional(txn_id):
        return Producer({**common, "transactional.id": txn_id, "transaction.timeout.ms": 60000,
                         "message.timeout.ms": 30000})

    def send(producer, topic, records):
        """Produces (partition, value) records (the value is the key too) and flushes: each delivery's [partition, offset, value]."""
        acks = []

        def delivered(error, message):
            acks.append([message.partition(), error.name() if error else message.offset(), message.value().decode()])

        for partition, value in records:
            producer.produce(topic, partition=partition, key=value.encode(), value=value.encode(), on_delivery=delivered)
        producer.flush(30)
        return sorted(acks, key=str)

    def batch(label, count):
        return [(p, f"{label}-{p}-{i}") for p in (0, 1) for i in range(count)]

    def reader(isolation, group=f"{GROUP}-reader"):
        """A consumer to assign partitions to (its group.id is never joined nor committed to)."""
        return Consumer({**common, "group.id": group, "enable.auto.commit": False, "isolation.level": isolation,
                         "enable.partition.eof": True, "auto.offset.reset": "earliest"})

    def read(consumer, partitions, seconds=DEADLINE_S, until=None):
        """Polls until `until(records, eof)` holds (by default: every partition in `partitions` is at EOF) or
        `seconds` pass: the records ([partition, offset, value], sorted) and the partitions that reached EOF."""
        records, eof, deadline = [], set(), time.time() + seconds
        until = until or (lambda records, eof: eof >= set(partitions))
        while time.time() < deadline and not until(records, eof):
            message = consumer.poll(0.2)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(message.partition())
                continue
            records.append([message.partition(), message.offset(), message.value().decode()])
        return sorted(records), sorted(eof)

    producer = transactional(f"{TOPIC}-txn")
    producer.init_transactions(30)
    producer.begin_transaction()
    acks = send(producer, source, batch("commit", 3))
    producer.commit_transaction(30)
    emit("commit", acks)
    producer.begin_transaction()
    acks = send(producer, source, batch("abort", 2))
    producer.abort_transaction(30)
    emit("abort", acks)
    producer.begin_transaction()
    acks = send(producer, source, batch("again", 1))
    producer.commit_transaction(30)
    emit("commit-again", acks)

    for isolation in ("read_committed", "read_uncommitted"):
        consumer = reader(isolation)
        consumer.assign([TopicPartition(source, p, 0) for p in (0, 1)])
        records, _ = read(consumer, [0, 1])
        positions = consumer.position([TopicPartition(source, p) for p in (0, 1)])
        consumer.close()
        emit(isolation.replace("_", "-"), {"records": records, "positions": [[tp.partition, tp.offset] for tp in positions]})

    partition0 = TopicPartition(source, 0)

    def latest():
        """The latest offset of partition 0 the admin client lists (ListOffsets) per isolation level."""
        return {str(level).split(".")[-1].lower(): admin.list_offsets({partition0: OffsetSpec.latest()}, isolation_level=level)
                [partition0].result(30).offset for level in (IsolationLevel.READ_COMMITTED, IsolationLevel.READ_UNCOMMITTED)}

    producer.begin_transaction()
    [[_, open_offset, _]] = send(producer, source, [(0, "open-0")])
    committed_reader, uncommitted_reader = reader("read_committed"), reader("read_uncommitted")
    for consumer in (committed_reader, uncommitted_reader):
        consumer.assign([TopicPartition(source, 0, open_offset)])
    seen, eof = read(committed_reader, [0], seconds=3, until=lambda records, eof: records)
    while_open = {
        "delivered": open_offset,
        "read-committed": {"records": seen, "eof": eof},
        "read-uncommitted": read(uncommitted_reader, [0])[0],
        "list-offsets": latest(),
        "watermarks": {"read_committed": list(committed_reader.get_watermark_offsets(partition0, timeout=30)),
                       "read_uncommitted": list(uncommitted_reader.get_watermark_offsets(partition0, timeout=30))},
    }
    producer.commit_transaction(30)
    while_open["read-committed-after-commit"] = read(committed_reader, [0], until=lambda records, eof: records)[0]
    while_open["list-offsets-after-commit"] = latest()
    committed_reader.close()
    uncommitted_reader.close()
    emit("open-transaction", while_open)

    consumer = Consumer({**common, "group.id": GROUP, "enable.auto.commit": False, "isolation.level": "read_committed",
                         "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    consumer.subscribe([source])
    records, eof = read(consumer, [0, 1])
    transformer = transactional(f"{TOPIC}-ctp")
    transformer.init_transactions(30)
    transformer.begin_transaction()
    send(transformer, sink, [(0, value.upper()) for _, _, value in records])
    positions = consumer.position(consumer.assignment())
    transformer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)
    transformer.commit_transaction(30)
    # OffsetFetch with require_stable: Kafka answers UNSTABLE_OFFSET_COMMIT until the markers are written, librdkafka asks again.
    group_offsets = consumer.committed([TopicPartition(source, p) for p in (0, 1)], timeout=30)
    consumer.close()
    output_reader = reader("read_committed")
    output_reader.assign([TopicPartition(sink, 0, 0)])
    output, _ = read(output_reader, [0])
    output_reader.close()
    emit("consume-transform-produce", {
        "consumed": records,
        "eof": eof,
        "sent-offsets": sorted([tp.partition, tp.offset] for tp in positions),
        "output": output,
        "committed": sorted([tp.partition, tp.offset] for tp in group_offsets),
    })

    def outcome(action):
        """None when `action` succeeds, else the KafkaError it raised: its name and flags as librdkafka reports them."""
        try:
            action()
            return None
        except KafkaException as e:
            error = e.args[0]
            return {"name": error.name(), "fatal": error.fatal(), "retriable": error.retriable(),
                    "abortable": error.txn_requires_abort()}

    successor = transactional(f"{TOPIC}-txn")
    successor.init_transactions(30)
    zombie = []
    fenced = {
        "begin": outcome(producer.begin_transaction),
        "produce": outcome(lambda: producer.produce(source, partition=1, key=b"zombie", value=b"zombie", on_delivery=lambda
                                                    error, message: zombie.append(error.name() if error else message.offset()))),
        "commit": outcome(lambda: producer.commit_transaction(30)),
    }
    producer.flush(30)
    fenced["delivery"] = zombie
    successor.begin_transaction()
    fenced["successor"] = send(successor, source, [(1, "successor")])
    successor.commit_transaction(30)
    check = reader("read_committed")
    check.assign([TopicPartition(source, 1, 0)])
    fenced["partition-1"] = read(check, [1])[0]
    check.close()
    emit("fenced", fenced)


def main():
    if CLIENT == "confluent-transactions":
        return transactions()
    if CLIENT == "confluent-producer-expiry":
        return producer_expiry()
    if CLIENT == "confluent-compacted":
        return compacted()
    create, produce, consume, groups = kafka_python() if CLIENT == "kafka-python" else confluent()
    emit("create", create())
    emit("produce", produce(FIRST))
    records, committed = consume(len(FIRST))
    emit("consume", records)
    emit("committed", committed)
    emit("groups", groups())
    emit("produce-more", produce(MORE))
    records, committed = consume(len(MORE))
    emit("consume-more", records)
    emit("committed-more", committed)


main()
