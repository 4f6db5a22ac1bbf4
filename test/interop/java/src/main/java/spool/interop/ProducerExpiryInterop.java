package spool.interop;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Producer id expiration (Kafka's producer.id.expiration.ms) with the Java client's default
 * idempotent producer, against a server started with a short expiration: the producer writes, its
 * state is listed (DescribeProducers), it stays idle past the expiration, its state is no longer
 * listed, and the same producer then goes on with its next sequences, which the server must take
 * (Kafka since 2.5 accepts any sequence from a producer it has no state for on a partition that has
 * held records), with no error, no record lost or doubled.
 *
 * <pre>
 *   ProducerExpiryInterop BOOTSTRAP TOPIC IDLE_MS
 * </pre>
 *
 * Prints one JSON line per step, {"step": ..., "result": ...}, as differential.test.ts compares them.
 */
public final class ProducerExpiryInterop {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        long idleMs = Long.parseLong(args[2]);
        TopicPartition partition = new TopicPartition(topic, 0);
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap));
             KafkaProducer<String, String> producer = producer(bootstrap)) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
            emit("create", "\"" + topic + "\"");
            emit("produce-first", produce(producer, topic, "a"));
            emit("producers-first", producers(admin, partition));
            Thread.sleep(idleMs);
            emit("producers-expired", producers(admin, partition));
            emit("produce-after", produce(producer, topic, "b"));
            emit("producers-after", producers(admin, partition));
            emit("consume", consume(bootstrap, partition));
        }
    }

    private static KafkaProducer<String, String> producer(String bootstrap) {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "60000");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaProducer<>(props);
    }

    /** Three records, each sent and acknowledged before the next: their offsets, or the error. */
    private static String produce(KafkaProducer<String, String> producer, String topic, String label) {
        List<String> offsets = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            try {
                offsets.add(String.valueOf(producer.send(new ProducerRecord<>(topic, 0, null, label + i)).get().offset()));
            } catch (Exception e) {
                Throwable cause = e.getCause() == null ? e : e.getCause();
                offsets.add("\"" + cause.getClass().getSimpleName() + "\"");
            }
        }
        return "[" + String.join(",", offsets) + "]";
    }

    /** The partition's producers as DescribeProducers lists them: epoch and last sequence (ids and times differ by server). */
    private static String producers(Admin admin, TopicPartition partition) throws Exception {
        List<String> states = new ArrayList<>();
        for (ProducerState state : admin.describeProducers(List.of(partition)).partitionResult(partition).get().activeProducers())
            states.add("{\"epoch\":" + state.producerEpoch() + ",\"lastSequence\":" + state.lastSequence() + "}");
        return "[" + String.join(",", states) + "]";
    }

    private static String consume(String bootstrap, TopicPartition partition) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        List<String> records = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            consumer.assign(List.of(partition));
            consumer.seekToBeginning(List.of(partition));
            long deadline = System.currentTimeMillis() + 30_000;
            while (records.size() < 6 && System.currentTimeMillis() < deadline)
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(200)))
                    records.add("\"" + record.offset() + ":" + record.value() + "\"");
        }
        return "[" + String.join(",", records) + "]";
    }

    private static void emit(String step, String resultJson) {
        System.out.println("{\"step\":\"" + step + "\",\"result\":" + resultJson + "}");
    }
}
