"""The produce, consume and group part of differential.test.ts's quickstart, with a Python client.

    python differential_clients.py confluent|confluent-consumer-protocol|confluent-producer-expiry|confluent-compacted|kafka-python BOOTSTRAP TOPIC GROUP

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
another: librdkafka on a compacted topic, keys, a tombstone and a record without a key (`compacted`).
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


def main():
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
