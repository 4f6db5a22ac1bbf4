package spool.interop;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The interop scenario's steps with the Java Kafka client (kafka-clients 3.9), mostly on its
 * defaults, as Logstash uses it: the producer is the default idempotent one (acks=all,
 * enable.idempotence=true) with gzip; the consumer uses the default assignors (range, then
 * cooperative-sticky) and commits synchronously itself.
 *
 * <pre>
 *   create-topic --bootstrap HOST:PORT --topic T --partitions N
 *   produce      --bootstrap HOST:PORT --topic T      &lt; lines "key:value"
 *   member       --bootstrap HOST:PORT --topic T --group G --member NAME [--timeout-ms MS]
 *   consume      --bootstrap HOST:PORT --topic T --group G [--timeout-ms MS]
 *   offsets-for-times --bootstrap HOST:PORT --topic T --timestamps MS,MS,...
 * </pre>
 *
 * Results are JSON lines on stdout (schema in test/interop/clients.ts); the client's own log
 * (slf4j-simple, WARN and up) goes to stderr. A member consumes until its standard input is
 * closed or the timeout passes, commits what it consumed, leaves the group and prints "closed".
 * {@code consume} is a group of one that reads the whole topic (from the committed offsets, else
 * the earliest) up to the end offsets it finds once it owns every partition, printing each
 * record's timestamp and timestamp type too, then commits and leaves. {@code offsets-for-times}
 * asks {@code KafkaConsumer.offsetsForTimes} (ListOffsets by timestamp, what Flink's and Spark's
 * "start from timestamp" use) for every partition, once per timestamp.
 */
public final class JavaInterop {
  private static final String CLIENT_ID = "interop-java";

  public static void main(String[] argv) throws Exception {
    if (argv.length < 1) usage("missing command");
    Map<String, String> args = parseFlags(argv);
    String bootstrap = required(args, "bootstrap");
    String topic = required(args, "topic");
    switch (argv[0]) {
      case "create-topic":
        createTopic(bootstrap, topic, Integer.parseInt(args.getOrDefault("partitions", "4")));
        break;
      case "produce":
        produce(bootstrap, topic, System.in);
        break;
      case "consume":
        int consumed = consume(bootstrap, topic, required(args, "group"), Long.parseLong(args.getOrDefault("timeout-ms", "120000")));
        System.out.flush();
        System.exit(consumed);
        break;
      case "offsets-for-times":
        offsetsForTimes(bootstrap, topic, required(args, "timestamps"));
        break;
      case "member":
        int status = runMember(bootstrap, topic, required(args, "group"), required(args, "member"),
            Long.parseLong(args.getOrDefault("timeout-ms", "120000")));
        System.out.flush();
        System.exit(status);
        break;
      default:
        usage("unknown command " + argv[0]);
    }
  }

  static void createTopic(String bootstrap, String topic, int partitions) throws Exception {
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(AdminClientConfig.CLIENT_ID_CONFIG, CLIENT_ID);
    try (Admin admin = Admin.create(props)) {
      admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
    }
    emit("{\"event\":\"topic\",\"topic\":" + json(topic) + ",\"partitions\":" + partitions + "}");
  }

  static void produce(String bootstrap, String topic, InputStream input) throws Exception {
    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ProducerConfig.CLIENT_ID_CONFIG, CLIENT_ID);
    props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "gzip");
    // acks=all and enable.idempotence=true are the defaults: left alone on purpose, so the
    // producer asks for a producer id (InitProducerId) and sends sequenced batches.
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());

    AtomicReference<Exception> failure = new AtomicReference<>();
    List<Future<RecordMetadata>> sends = new ArrayList<>();
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(props);
         BufferedReader reader = new BufferedReader(new InputStreamReader(input, StandardCharsets.UTF_8))) {
      String line;
      int lineNumber = 0;
      while ((line = reader.readLine()) != null) {
        lineNumber++;
        int colon = line.indexOf(':');
        if (colon < 0) throw new IllegalArgumentException("input line " + lineNumber + " has no ':' between key and value");
        String key = line.substring(0, colon);
        String value = line.substring(colon + 1);
        sends.add(producer.send(new ProducerRecord<>(topic, key, value), (metadata, error) -> {
          if (error != null) {
            failure.compareAndSet(null, error);
            return;
          }
          emit("{\"event\":\"ack\",\"key\":" + json(key) + ",\"value\":" + json(value)
              + ",\"partition\":" + metadata.partition() + ",\"offset\":" + metadata.offset() + "}");
        }));
      }
      producer.flush();
    }
    for (Future<RecordMetadata> send : sends) send.get();
    if (failure.get() != null) throw failure.get();
  }

  /**
   * One group member. Offsets are committed synchronously after each poll's records are printed
   * and, for partitions being taken away, in onPartitionsRevoked, so the next owner of a partition
   * starts exactly after the last record this member printed: within one group run no record is
   * delivered twice.
   */
  static int runMember(String bootstrap, String topic, String group, String member, long timeoutMs) throws Exception {
    Properties props = new Properties();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ConsumerConfig.CLIENT_ID_CONFIG, CLIENT_ID + "-" + member);
    props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());

    Thread stdinWatcher = new Thread(() -> {
      try {
        while (System.in.read() >= 0) {
          // Standard input closing is the signal to stop.
        }
      } catch (IOException ignored) {
        // A broken stdin means the parent is gone: stop as well.
      }
    }, "stdin-watcher");
    stdinWatcher.setDaemon(true);
    stdinWatcher.start();

    Map<TopicPartition, OffsetAndMetadata> uncommitted = new HashMap<>();
    long deadline = System.currentTimeMillis() + timeoutMs;
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
      consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
          Map<TopicPartition, OffsetAndMetadata> revoked = new HashMap<>();
          for (TopicPartition partition : partitions) {
            OffsetAndMetadata offset = uncommitted.remove(partition);
            if (offset != null) revoked.put(partition, offset);
          }
          if (!revoked.isEmpty()) consumer.commitSync(revoked);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
          // Called with the whole new assignment for eager assignors (range, the default first
          // choice) and with only the added partitions for cooperative ones: print the full set.
          TreeSet<Integer> owned = new TreeSet<>();
          for (TopicPartition partition : consumer.assignment()) owned.add(partition.partition());
          emit("{\"event\":\"assigned\",\"member\":" + json(member) + ",\"partitions\":" + owned + "}");
        }
      });

      while (stdinWatcher.isAlive()) {
        if (System.currentTimeMillis() > deadline) {
          System.err.println("java-interop: member " + member + " timed out after " + timeoutMs + " ms");
          commit(consumer, uncommitted);
          return 3;
        }
        ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(200));
        for (ConsumerRecord<String, String> record : records) {
          emit("{\"event\":\"record\",\"member\":" + json(member) + ",\"partition\":" + record.partition()
              + ",\"offset\":" + record.offset() + ",\"key\":" + json(record.key()) + ",\"value\":" + json(record.value()) + "}");
          uncommitted.put(new TopicPartition(record.topic(), record.partition()), new OffsetAndMetadata(record.offset() + 1));
        }
        if (!records.isEmpty()) commit(consumer, uncommitted);
      }
      commit(consumer, uncommitted);
    }
    emit("{\"event\":\"closed\",\"member\":" + json(member) + "}");
    return 0;
  }

  private static Properties consumerProps(String bootstrap, String clientId) {
    Properties props = new Properties();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    return props;
  }

  /**
   * A group of one reading the whole topic: once it owns every partition it asks for their end
   * offsets and polls until its position reaches them (at once when the log is empty, or has been
   * trimmed to its end), printing every record, then commits and leaves.
   */
  static int consume(String bootstrap, String topic, String group, long timeoutMs) {
    Properties props = consumerProps(bootstrap, CLIENT_ID + "-consume");
    props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    long deadline = System.currentTimeMillis() + timeoutMs;
    int count = 0;
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
      consumer.subscribe(List.of(topic));
      int partitions = consumer.partitionsFor(topic).size();
      Map<TopicPartition, Long> ends = null;
      for (;;) {
        if (System.currentTimeMillis() > deadline) {
          System.err.println("java-interop: consume timed out after " + timeoutMs + " ms with " + count + " records; end offsets " + ends);
          return 3;
        }
        ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(200));
        for (ConsumerRecord<String, String> record : records) {
          count++;
          emit("{\"event\":\"record\",\"member\":\"consume\",\"partition\":" + record.partition() + ",\"offset\":" + record.offset()
              + ",\"timestamp\":" + record.timestamp() + ",\"timestampType\":" + json(record.timestampType().name)
              + ",\"key\":" + json(record.key()) + ",\"value\":" + json(record.value()) + "}");
        }
        Set<TopicPartition> owned = consumer.assignment();
        if (owned.size() < partitions) continue;
        if (ends == null) {
          ends = consumer.endOffsets(owned);
          TreeSet<Integer> numbers = new TreeSet<>();
          for (TopicPartition partition : owned) numbers.add(partition.partition());
          emit("{\"event\":\"assigned\",\"member\":\"consume\",\"partitions\":" + numbers + "}");
        }
        boolean done = true;
        for (TopicPartition partition : owned) done &= consumer.position(partition) >= ends.get(partition);
        if (done) break;
      }
      consumer.commitSync();
    }
    emit("{\"event\":\"closed\",\"member\":\"consume\",\"records\":" + count + "}");
    return 0;
  }

  /**
   * offsetsForTimes for every partition of the topic, one call per timestamp so that a call the
   * client rejects (it throws on a negative timestamp in the answer) does not hide the others.
   */
  static void offsetsForTimes(String bootstrap, String topic, String timestamps) {
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerProps(bootstrap, CLIENT_ID + "-offsets-for-times"))) {
      List<TopicPartition> partitions = new ArrayList<>();
      for (PartitionInfo info : consumer.partitionsFor(topic)) partitions.add(new TopicPartition(topic, info.partition()));
      partitions.sort((a, b) -> Integer.compare(a.partition(), b.partition()));
      for (String text : timestamps.split(",")) {
        long timestamp = Long.parseLong(text.trim());
        Map<TopicPartition, Long> query = new LinkedHashMap<>();
        for (TopicPartition partition : partitions) query.put(partition, timestamp);
        Map<TopicPartition, OffsetAndTimestamp> answer;
        try {
          answer = consumer.offsetsForTimes(query, Duration.ofSeconds(30));
        } catch (RuntimeException e) {
          emit("{\"event\":\"offset-for-time-error\",\"timestamp\":" + timestamp + ",\"message\":" + json(e.getClass().getName() + ": " + e.getMessage()) + "}");
          continue;
        }
        for (TopicPartition partition : partitions) {
          OffsetAndTimestamp found = answer.get(partition);
          emit("{\"event\":\"offset-for-time\",\"timestamp\":" + timestamp + ",\"partition\":" + partition.partition()
              + ",\"offset\":" + (found == null ? "null" : String.valueOf(found.offset()))
              + ",\"recordTimestamp\":" + (found == null ? "null" : String.valueOf(found.timestamp())) + "}");
        }
      }
    }
  }

  private static void commit(KafkaConsumer<String, String> consumer, Map<TopicPartition, OffsetAndMetadata> uncommitted) {
    if (uncommitted.isEmpty()) return;
    try {
      consumer.commitSync(uncommitted);
      uncommitted.clear();
    } catch (RebalanceInProgressException e) {
      // The group is rebalancing: the next poll() calls onPartitionsRevoked, which commits these.
    }
  }

  private static synchronized void emit(String line) {
    System.out.println(line);
  }

  private static String json(String s) {
    if (s == null) return "null";
    StringBuilder out = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"': out.append("\\\""); break;
        case '\\': out.append("\\\\"); break;
        default:
          if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
          else out.append(c);
      }
    }
    return out.append('"').toString();
  }

  private static Map<String, String> parseFlags(String[] argv) {
    Map<String, String> flags = new HashMap<>();
    for (int i = 1; i < argv.length; i += 2) {
      if (!argv[i].startsWith("--") || i + 1 >= argv.length) usage("expected --name value, got " + argv[i]);
      flags.put(argv[i].substring(2), argv[i + 1]);
    }
    return flags;
  }

  private static String required(Map<String, String> args, String name) {
    String value = args.get(name);
    if (value == null) usage("--" + name + " is required");
    return value;
  }

  private static void usage(String problem) {
    System.err.println("java-interop: " + problem);
    System.err.println("usage: create-topic|produce|member|consume|offsets-for-times --bootstrap HOST:PORT --topic T [--partitions N] [--group G --member NAME --timeout-ms MS] [--timestamps MS,...]");
    System.exit(2);
  }
}
