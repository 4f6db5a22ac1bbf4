package spool.interop;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.function.Supplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Kafka transactions with the Java client: a transactional producer, read_committed and
 * read_uncommitted consumers, consume-transform-produce with sendOffsetsToTransaction, a fenced
 * zombie, and the admin API's view of transactions (ListTransactions, DescribeTransactions,
 * DescribeProducers, ListOffsets by isolation level).
 *
 * <pre>
 *   TransactionsInterop BOOTSTRAP TOPIC GROUP
 * </pre>
 *
 * TOPIC-in (2 partitions) and TOPIC-out (1); transactional ids TOPIC-txn and TOPIC-ctp. Every record
 * is acknowledged before its transaction ends, so offsets are the same on every run: a transaction's
 * marker takes the offset after its records on each partition it wrote. Prints one JSON line per
 * step, {"step": ..., "result": ...}, as differential.test.ts compares them; only what is the same
 * from run to run: no producer ids, epochs (a Kafka 4 broker with transaction.version 2 bumps the
 * epoch at every commit or abort of a kafka-clients 4 producer, a 3.9 broker does not), times or
 * coordinator ids. A transaction's state is read once it has settled: EndTxn is answered when the
 * coordinator has logged PrepareCommit/PrepareAbort, before the markers are written.
 */
public final class TransactionsInterop {
    private static final long WAIT_MS = 30_000;
    /** Every client's client.id starts with it: the broker's request log tells the two builds apart. */
    private static final String CLIENT_ID = "interop-txn-java-" + clientVersion();

    private final String bootstrap;
    private final String input;
    private final String output;
    private final String group;
    private final String txnId;
    private final String ctpId;
    private final Admin admin;

    /** kafka-clients' version, as its jar states it (its AppInfoParser moved to an internals package in 4.x). */
    private static String clientVersion() {
        Properties version = new Properties();
        try (var in = KafkaProducer.class.getResourceAsStream("/kafka/kafka-version.properties")) {
            if (in != null) version.load(in);
        } catch (java.io.IOException e) {
            // unknown
        }
        return version.getProperty("version", "unknown");
    }

    private TransactionsInterop(String bootstrap, String topic, String group, Admin admin) {
        this.bootstrap = bootstrap;
        this.input = topic + "-in";
        this.output = topic + "-out";
        this.group = group;
        this.txnId = topic + "-txn";
        this.ctpId = topic + "-ctp";
        this.admin = admin;
    }

    public static void main(String[] args) throws Exception {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0],
            AdminClientConfig.CLIENT_ID_CONFIG, CLIENT_ID + "-admin"))) {
            new TransactionsInterop(args[0], args[1], args[2], admin).run();
        }
    }

    private void run() throws Exception {
        admin.createTopics(List.of(new NewTopic(input, 2, (short) 1), new NewTopic(output, 1, (short) 1))).all().get();
        Map<String, Object> created = new TreeMap<>();
        for (var entry : admin.describeTopics(List.of(input, output)).allTopicNames().get().entrySet())
            created.put(entry.getKey(), entry.getValue().partitions().size());
        emit("create", created);

        TopicPartition in0 = new TopicPartition(input, 0);
        TopicPartition in1 = new TopicPartition(input, 1);
        List<TopicPartition> inputPartitions = List.of(in0, in1);
        KafkaProducer<String, String> producer = producer(txnId);
        producer.initTransactions();
        emit("init", transactions());

        producer.beginTransaction();
        List<Object> committed = send(producer, batch(input, "commit", 3));
        producer.commitTransaction();
        emit("commit", committed);
        emit("describe-after-commit", describeSettled(txnId));

        producer.beginTransaction();
        List<Object> aborted = send(producer, batch(input, "abort", 2));
        producer.abortTransaction();
        emit("abort", aborted);
        emit("describe-after-abort", describeSettled(txnId));

        producer.beginTransaction();
        List<Object> again = send(producer, batch(input, "again", 1));
        producer.commitTransaction();
        emit("commit-again", again);
        describeSettled(txnId);

        for (String isolation : List.of("read_committed", "read_uncommitted")) {
            try (KafkaConsumer<String, String> consumer = consumer(isolation, null)) {
                consumer.assign(inputPartitions);
                consumer.seekToBeginning(inputPartitions);
                Map<String, Object> read = new TreeMap<>();
                read.put("records", readToEnd(consumer, inputPartitions));
                read.put("positions", positions(consumer, inputPartitions));
                read.put("end-offsets", offsets(consumer.endOffsets(inputPartitions)));
                emit(isolation.replace('_', '-'), read);
            }
        }

        // A transaction left open on partition 0.
        producer.beginTransaction();
        long openOffset = producer.send(new ProducerRecord<>(input, 0, "open-0", "open-0")).get().offset();
        Map<String, Object> open = new TreeMap<>();
        open.put("delivered", openOffset);
        open.put("list-offsets", listOffsets(in0));
        open.put("describe", describe(txnId));
        open.put("transactions", transactions());
        open.put("producers", producers(in0));
        try (KafkaConsumer<String, String> committedReader = consumer("read_committed", null);
             KafkaConsumer<String, String> uncommittedReader = consumer("read_uncommitted", null)) {
            committedReader.assign(List.of(in0));
            committedReader.seek(in0, openOffset);
            uncommittedReader.assign(List.of(in0));
            uncommittedReader.seek(in0, openOffset);
            List<Object> seen = new ArrayList<>();
            for (long deadline = System.currentTimeMillis() + 3000; System.currentTimeMillis() < deadline; )
                for (ConsumerRecord<String, String> record : committedReader.poll(Duration.ofMillis(200)))
                    seen.add(record(record));
            open.put("read-committed", Map.of("records", seen, "position", committedReader.position(in0),
                "end-offset", committedReader.endOffsets(List.of(in0)).get(in0)));
            open.put("read-uncommitted", Map.of("records", readToEnd(uncommittedReader, List.of(in0)),
                "end-offset", uncommittedReader.endOffsets(List.of(in0)).get(in0)));

            producer.commitTransaction();
            List<Object> after = new ArrayList<>();
            for (long deadline = System.currentTimeMillis() + WAIT_MS; after.isEmpty() && System.currentTimeMillis() < deadline; )
                for (ConsumerRecord<String, String> record : committedReader.poll(Duration.ofMillis(200)))
                    after.add(record(record));
            open.put("read-committed-after-commit", after);
        }
        emit("open-transaction", open);
        Map<String, Object> closed = new TreeMap<>();
        closed.put("describe", describeSettled(txnId));
        // Right after the markers (well within the servers' 2 s producer.id.expiration.ms): listed, no transaction open.
        closed.put("producers", producers(in0));
        closed.put("list-offsets", listOffsets(in0));
        emit("after-open-transaction", closed);

        emit("consume-transform-produce", consumeTransformProduce(inputPartitions));
        emit("transactions", transactions());
        emit("fenced", fenced(producer, in1));
        emit("transactions-final", transactions());
    }

    /** A consumer of GROUP reads TOPIC-in (read_committed); a transactional producer writes the values upper-cased to TOPIC-out and commits the consumer's positions with them. */
    private Map<String, Object> consumeTransformProduce(List<TopicPartition> inputPartitions) throws Exception {
        Map<String, Object> result = new TreeMap<>();
        try (KafkaConsumer<String, String> consumer = consumer("read_committed", group);
             KafkaProducer<String, String> transformer = producer(ctpId)) {
            consumer.subscribe(List.of(input));
            List<ConsumerRecord<String, String>> records = new ArrayList<>();
            Map<TopicPartition, Long> end = consumer.endOffsets(inputPartitions);
            for (long deadline = System.currentTimeMillis() + WAIT_MS; System.currentTimeMillis() < deadline; ) {
                consumer.poll(Duration.ofMillis(200)).forEach(records::add);
                if (consumer.assignment().size() == inputPartitions.size()
                    && inputPartitions.stream().allMatch(tp -> consumer.position(tp) >= end.get(tp)))
                    break;
            }
            records.sort((a, b) -> a.partition() != b.partition() ? a.partition() - b.partition() : Long.compare(a.offset(), b.offset()));
            List<Object> consumed = new ArrayList<>();
            for (ConsumerRecord<String, String> record : records) consumed.add(record(record));
            result.put("consumed", consumed);

            transformer.initTransactions();
            transformer.beginTransaction();
            List<ProducerRecord<String, String>> transformed = new ArrayList<>();
            for (ConsumerRecord<String, String> record : records)
                transformed.add(new ProducerRecord<>(output, 0, record.partition() + ":" + record.offset(), record.value().toUpperCase()));
            send(transformer, transformed);
            Map<TopicPartition, OffsetAndMetadata> positions = new LinkedHashMap<>();
            for (TopicPartition tp : inputPartitions) positions.put(tp, new OffsetAndMetadata(consumer.position(tp)));
            transformer.sendOffsetsToTransaction(positions, consumer.groupMetadata());
            result.put("describe-before-commit", describe(ctpId));
            transformer.commitTransaction();
            result.put("sent-offsets", offsets(positions));
            result.put("describe", describeSettled(ctpId));
            Map<TopicPartition, Long> committed = new HashMap<>();
            for (var entry : consumer.committed(new HashSet<>(inputPartitions)).entrySet())
                committed.put(entry.getKey(), entry.getValue() == null ? null : entry.getValue().offset());
            result.put("committed", offsets(committed));
        }
        Map<TopicPartition, Long> listed = new HashMap<>();
        for (var entry : admin.listConsumerGroupOffsets(group, new ListConsumerGroupOffsetsOptions().requireStable(true))
            .partitionsToOffsetAndMetadata().get().entrySet())
            listed.put(entry.getKey(), entry.getValue().offset());
        result.put("group-offsets", offsets(listed));
        try (KafkaConsumer<String, String> reader = consumer("read_committed", null)) {
            TopicPartition out0 = new TopicPartition(output, 0);
            reader.assign(List.of(out0));
            reader.seekToBeginning(List.of(out0));
            result.put("output", readToEnd(reader, List.of(out0)));
            result.put("output-end-offset", reader.endOffsets(List.of(out0)).get(out0));
        }
        return result;
    }

    /**
     * A second producer with TOPIC-txn's id (initTransactions) fences `zombie`: what its beginTransaction,
     * send and commitTransaction throw; then the new instance commits a record to partition 1, which a
     * read_committed read shows without the zombie's.
     */
    private Map<String, Object> fenced(KafkaProducer<String, String> zombie, TopicPartition partition) throws Exception {
        Map<String, Object> result = new TreeMap<>();
        try (KafkaProducer<String, String> successor = producer(txnId)) {
            successor.initTransactions();
            result.put("describe-after-init", describeSettled(txnId));
            result.put("begin", outcome(() -> {
                zombie.beginTransaction();
                return null;
            }));
            Future<RecordMetadata> sent = null;
            try {
                sent = zombie.send(new ProducerRecord<>(input, partition.partition(), "zombie", "zombie"));
                result.put("send", null);
            } catch (Exception e) {
                result.put("send", error(e));
            }
            Future<RecordMetadata> zombieSend = sent;
            result.put("commit", outcome(() -> {
                zombie.commitTransaction();
                return null;
            }));
            // Kafka 4 with transaction.version 2 fails the zombie's send and commit with the abortable
            // InvalidProducerEpochException (its Produce was refused): its abort then hears PRODUCER_FENCED.
            result.put("abort", outcome(() -> {
                zombie.abortTransaction();
                return null;
            }));
            if (zombieSend != null)
                result.put("delivery", outcome(() -> {
                    try {
                        return zombieSend.get().offset();
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                }));
            zombie.close(Duration.ofSeconds(5));
            successor.beginTransaction();
            List<Object> delivered = send(successor, List.of(new ProducerRecord<>(input, partition.partition(), "successor", "successor")));
            successor.commitTransaction();
            result.put("successor", delivered);
        }
        result.put("describe", describeSettled(txnId));
        try (KafkaConsumer<String, String> reader = consumer("read_committed", null)) {
            reader.assign(List.of(partition));
            reader.seekToBeginning(List.of(partition));
            result.put("partition-" + partition.partition(), readToEnd(reader, List.of(partition)));
        }
        return result;
    }

    /** null when `action` succeeds (its value when it has one), else the exception as error() reports it. */
    private static Object outcome(Supplier<Object> action) {
        try {
            Object value = action.get();
            return value == null ? null : Map.of("value", value);
        } catch (Exception e) {
            return error(e);
        }
    }

    /** An exception's class, and its cause's (unwrapped from ExecutionException and the RuntimeException outcome() wraps with). */
    private static Map<String, Object> error(Throwable e) {
        while ((e instanceof ExecutionException || e.getClass() == RuntimeException.class) && e.getCause() != null) e = e.getCause();
        Map<String, Object> error = new TreeMap<>();
        error.put("exception", e.getClass().getSimpleName());
        error.put("cause", e.getCause() == null ? null : e.getCause().getClass().getSimpleName());
        return error;
    }

    private KafkaProducer<String, String> producer(String transactionalId) {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        props.put(ProducerConfig.CLIENT_ID_CONFIG, CLIENT_ID + "-producer");
        props.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "60000");
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "60000");
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaProducer<>(props);
    }

    /** A consumer with `isolation`; in `group` when given (no auto commit, earliest). */
    private KafkaConsumer<String, String> consumer(String isolation, String groupId) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, CLIENT_ID + "-consumer");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        if (groupId != null) props.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        return new KafkaConsumer<>(props);
    }

    /** `count` keyed records to each partition of `topic` (0 and 1). */
    private static List<ProducerRecord<String, String>> batch(String topic, String label, int count) {
        List<ProducerRecord<String, String>> records = new ArrayList<>();
        for (int p = 0; p < 2; p++)
            for (int i = 0; i < count; i++) {
                String key = label + "-" + p + "-" + i;
                records.add(new ProducerRecord<>(topic, p, key, key));
            }
        return records;
    }

    /** Sends the records and waits for every acknowledgement: [partition, offset, value] each, in send order. */
    private static List<Object> send(KafkaProducer<String, String> producer, List<ProducerRecord<String, String>> records) throws Exception {
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        for (ProducerRecord<String, String> record : records) futures.add(producer.send(record));
        List<Object> acks = new ArrayList<>();
        for (int i = 0; i < records.size(); i++) {
            RecordMetadata metadata = futures.get(i).get();
            acks.add(List.of(metadata.partition(), metadata.offset(), records.get(i).value()));
        }
        return acks;
    }

    /** Polls until the consumer's position on each partition reaches its end offset (for its isolation level): the records, by partition and offset. */
    private static List<Object> readToEnd(KafkaConsumer<String, String> consumer, List<TopicPartition> partitions) {
        Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
        List<ConsumerRecord<String, String>> records = new ArrayList<>();
        for (long deadline = System.currentTimeMillis() + WAIT_MS; System.currentTimeMillis() < deadline; ) {
            if (partitions.stream().allMatch(tp -> consumer.position(tp) >= end.get(tp))) break;
            consumer.poll(Duration.ofMillis(200)).forEach(records::add);
        }
        records.sort((a, b) -> a.partition() != b.partition() ? a.partition() - b.partition() : Long.compare(a.offset(), b.offset()));
        List<Object> result = new ArrayList<>();
        for (ConsumerRecord<String, String> record : records) result.add(record(record));
        return result;
    }

    private static List<Object> record(ConsumerRecord<String, String> record) {
        return List.of(record.partition(), record.offset(), record.value());
    }

    private static List<Object> positions(KafkaConsumer<String, String> consumer, List<TopicPartition> partitions) {
        List<Object> positions = new ArrayList<>();
        for (TopicPartition tp : partitions) positions.add(List.of(tp.partition(), consumer.position(tp)));
        return positions;
    }

    /** [partition, offset] pairs, by partition. */
    private static List<Object> offsets(Map<TopicPartition, ?> offsets) {
        List<Object> result = new ArrayList<>();
        offsets.entrySet().stream()
            .sorted((a, b) -> a.getKey().partition() - b.getKey().partition())
            .forEach(entry -> {
                Object value = entry.getValue() instanceof OffsetAndMetadata ? ((OffsetAndMetadata) entry.getValue()).offset() : entry.getValue();
                List<Object> pair = new ArrayList<>();
                pair.add(entry.getKey().partition());
                pair.add(value);
                result.add(pair);
            });
        return result;
    }

    /** The latest offset of `tp` listed with each isolation level: the last stable offset and the high watermark. */
    private Map<String, Object> listOffsets(TopicPartition tp) throws Exception {
        Map<String, Object> result = new TreeMap<>();
        for (IsolationLevel level : IsolationLevel.values())
            result.put(level.toString(), admin.listOffsets(Map.of(tp, OffsetSpec.latest()), new ListOffsetsOptions(level))
                .partitionResult(tp).get().offset());
        return result;
    }

    /** This program's transactional ids as ListTransactions lists them (every broker asked), with their states. */
    private List<Object> transactions() throws Exception {
        List<Object> listed = new ArrayList<>();
        for (TransactionListing listing : admin.listTransactions().all().get())
            if (listing.transactionalId().equals(txnId) || listing.transactionalId().equals(ctpId))
                listed.add(List.of(listing.transactionalId(), listing.state().toString()));
        listed.sort((a, b) -> a.toString().compareTo(b.toString()));
        return listed;
    }

    /** DescribeTransactions of `id`: its state, partitions, timeout, and while Ongoing whether a start time is set. */
    private Map<String, Object> describe(String id) throws Exception {
        TransactionDescription description = admin.describeTransactions(List.of(id)).description(id).get();
        Map<String, Object> result = new TreeMap<>();
        result.put("state", description.state().toString());
        List<String> partitions = new ArrayList<>();
        // The group's __consumer_offsets partition is the group id's hash modulo the server's partition count (4 on these Kafka brokers).
        for (TopicPartition tp : description.topicPartitions())
            partitions.add(tp.topic().equals("__consumer_offsets") ? tp.topic() : tp.toString());
        partitions.sort(null);
        result.put("partitions", partitions);
        result.put("timeoutMs", description.transactionTimeoutMs());
        // The start time is set while a transaction is open; once it ends Kafka 3.9 keeps it, and 4.x too but
        // for the Empty state after an InitProducerId that fenced an instance (-1 there, kept by 3.9).
        if (description.state().toString().equals("Ongoing")) result.put("started", description.transactionStartTimeMs().isPresent());
        return result;
    }

    /** describe(id) once the transaction is no longer between its EndTxn and its markers (Prepare*), or after WAIT_MS. */
    private Map<String, Object> describeSettled(String id) throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (true) {
            Map<String, Object> described = describe(id);
            if (!String.valueOf(described.get("state")).startsWith("Prepare") || System.currentTimeMillis() > deadline) return described;
            Thread.sleep(50);
        }
    }

    /**
     * DescribeProducers of `tp`: each producer's open transaction's first offset (null when none). Nothing
     * else: ids and epochs differ by server and client, and the coordinator epoch is absent where the
     * entry expired (producer.id.expiration.ms, 2 s on every server here) and the open transaction
     * created it again. Asked only while a transaction is open on `tp` and right after its markers.
     */
    private List<Object> producers(TopicPartition tp) throws Exception {
        List<Object> states = new ArrayList<>();
        for (ProducerState state : admin.describeProducers(List.of(tp)).partitionResult(tp).get().activeProducers())
            states.add(Map.of("transactionStartOffset", state.currentTransactionStartOffset().isPresent()
                ? (Object) state.currentTransactionStartOffset().getAsLong() : "none"));
        return states;
    }

    private static void emit(String step, Object result) {
        System.out.println("{\"step\":" + json(step) + ",\"result\":" + json(result) + "}");
    }

    /** JSON text of strings, numbers, booleans, null, lists and maps (keys in the map's order: TreeMap sorts). */
    private static String json(Object value) {
        if (value == null) return "null";
        if (value instanceof Number || value instanceof Boolean) return value.toString();
        if (value instanceof Map) {
            Map<?, ?> map = value instanceof TreeMap ? (Map<?, ?>) value : new TreeMap<>((Map<?, ?>) value);
            List<String> entries = new ArrayList<>();
            for (var entry : map.entrySet()) entries.add(json(String.valueOf(entry.getKey())) + ":" + json(entry.getValue()));
            return "{" + String.join(",", entries) + "}";
        }
        if (value instanceof Collection) {
            List<String> items = new ArrayList<>();
            for (Object item : (Collection<?>) value) items.add(json(item));
            return "[" + String.join(",", items) + "]";
        }
        StringBuilder text = new StringBuilder("\"");
        for (char c : value.toString().toCharArray()) {
            if (c == '"' || c == '\\') text.append('\\').append(c);
            else if (c < 0x20) text.append(String.format("\\u%04x", (int) c));
            else text.append(c);
        }
        return text.append('"').toString();
    }
}
