package spool.interop;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.SharePartitionOffsetInfo;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Share-group dead-letter queues (KIP-1191, Kafka 4.4) with kafka-clients 4.4: the same run on Spool
 * and on Apache Kafka 4.x (differential.test.ts, client program java4-share-dlq). With names unique to
 * the run (TOPIC-<id>, GROUP-<id>, printed as <topic> and <group>) it creates:
 *  - the source topic <topic> (2 partitions): 2 records on partition 0, 3 on partition 1, each keyed and
 *    with a header orig-h;
 *  - the DLQ topic dlq.<topic> (3 partitions, errors.deadletterqueue.group.enable=true);
 *  - dlq.<topic>-plain (exists, not opted in) and <topic>-noprefix (opted in, lacks the dlq. prefix);
 * and six share groups on the source topic (share.auto.offset.reset=earliest,
 * share.delivery.count.limit=2, set with IncrementalAlterConfigs), whose
 * errors.deadletterqueue.topic.name is: dlq.<topic> with errors.deadletterqueue.copy.record.enable=true
 * (<group>-copy); dlq.<topic> without copying (<group>-nocopy); dlq.<topic>-missing, which does not
 * exist (<group>-missing); dlq.<topic>-plain (<group>-plain); <topic>-noprefix (<group>-noprefix); none
 * (<group>-off). Each group's KafkaShareConsumer (explicit acknowledgement) REJECTs reject-1, RELEASEs
 * release-0 and release-1 at every delivery (the second reaches the limit) and ACCEPTs the rest. Prints
 * a JSON line per step, {"step", "result"}:
 *  - configure: three groups' configs as DescribeConfigs answers them (once applied: Kafka's brokers
 *    learn a group config from the metadata log, after the alter is answered);
 *  - consumed: each group's deliveries (value@delivery count:acknowledgement), sorted;
 *  - offsets: each group's lag per partition once it is 0 for all (a record sent to a DLQ stays
 *    unsettled until its dead letter is written, or failed to be);
 *  - dead-letters: dlq.<topic>'s records (read from the start of each partition with a KafkaConsumer),
 *    sorted by group and source partition:offset: DLQ partition, key, value, headers in order, whether
 *    the source's header came along, the timestamp type and whether the timestamp is the write time
 *    (not the source record's); not the DLQ offsets;
 *  - not-written: whether dlq.<topic>-missing exists (nothing creates it), and the end offsets of
 *    dlq.<topic>-plain and <topic>-noprefix (nothing is written to either).
 *
 *   java -cp classes:<classpath> spool.interop.ShareDlqInterop BOOTSTRAP TOPIC GROUP
 */
public final class ShareDlqInterop {
  private static String topicBase;
  private static String groupBase;

  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String id = UUID.randomUUID().toString().substring(0, 8);
    topicBase = args[1] + "-" + id;
    groupBase = args[2] + "-" + id;
    String topic = topicBase;
    String dlq = "dlq." + topic;
    String plain = "dlq." + topic + "-plain";
    String noPrefix = topic + "-noprefix";
    String missing = "dlq." + topic + "-missing";
    Map<String, String> dlqOf = new LinkedHashMap<>();
    dlqOf.put(groupBase + "-copy", dlq);
    dlqOf.put(groupBase + "-nocopy", dlq);
    dlqOf.put(groupBase + "-missing", missing);
    dlqOf.put(groupBase + "-plain", plain);
    dlqOf.put(groupBase + "-noprefix", noPrefix);
    dlqOf.put(groupBase + "-off", null);
    String copyGroup = groupBase + "-copy";

    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      Map<String, String> optIn = Map.of("errors.deadletterqueue.group.enable", "true");
      admin.createTopics(List.of(
          new NewTopic(topic, 2, (short) 1),
          new NewTopic(dlq, 3, (short) 1).configs(optIn),
          new NewTopic(plain, 1, (short) 1),
          new NewTopic(noPrefix, 1, (short) 1).configs(optIn))).all().get();
      Map<ConfigResource, java.util.Collection<AlterConfigOp>> alter = new HashMap<>();
      for (Map.Entry<String, String> group : dlqOf.entrySet()) {
        List<AlterConfigOp> ops = new ArrayList<>();
        ops.add(set("share.auto.offset.reset", "earliest"));
        ops.add(set("share.delivery.count.limit", "2"));
        if (group.getValue() != null) ops.add(set("errors.deadletterqueue.topic.name", group.getValue()));
        if (group.getKey().equals(copyGroup)) ops.add(set("errors.deadletterqueue.copy.record.enable", "true"));
        alter.put(new ConfigResource(ConfigResource.Type.GROUP, group.getKey()), ops);
      }
      admin.incrementalAlterConfigs(alter).all().get();
      // A group config reaches Kafka's brokers through the metadata log: described once it has (or after 15 s).
      Map<String, Object> configs = new TreeMap<>();
      long deadline = System.currentTimeMillis() + 15_000;
      while (true) {
        configs.clear();
        boolean applied = true;
        for (String group : List.of(copyGroup, groupBase + "-nocopy", groupBase + "-off")) {
          ConfigResource resource = new ConfigResource(ConfigResource.Type.GROUP, group);
          Config config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
          Map<String, Object> values = new TreeMap<>();
          for (String name : List.of(
              "share.auto.offset.reset",
              "share.delivery.count.limit",
              "errors.deadletterqueue.topic.name",
              "errors.deadletterqueue.copy.record.enable")) {
            ConfigEntry entry = config.get(name);
            values.put(name, entry == null ? null : normalise(entry.value()));
          }
          if (!"2".equals(values.get("share.delivery.count.limit"))) applied = false;
          configs.put(normalise(group), values);
        }
        if (applied || System.currentTimeMillis() > deadline) break;
        Thread.sleep(250);
      }
      step("configure", json(configs));
    }

    Properties pp = new Properties();
    pp.put("bootstrap.servers", bootstrap);
    pp.put("key.serializer", StringSerializer.class.getName());
    pp.put("value.serializer", StringSerializer.class.getName());
    String[][] records = {
      {"0", "k-release-0", "release-0"},
      {"0", "k-accept-0", "accept-0"},
      {"1", "k-accept-1", "accept-1"},
      {"1", "k-reject-1", "reject-1"},
      {"1", "k-release-1", "release-1"},
    };
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
      for (String[] r : records) {
        ProducerRecord<String, String> record = new ProducerRecord<>(topic, Integer.parseInt(r[0]), r[1], r[2]);
        record.headers().add("orig-h", ("h-" + r[2]).getBytes(StandardCharsets.UTF_8));
        producer.send(record).get();
      }
    }
    long producedAt = System.currentTimeMillis();

    // Every group at once: a consumer each, until each of its records is settled.
    Map<String, List<String>> consumed = new ConcurrentHashMap<>();
    List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
    List<Thread> threads = new ArrayList<>();
    for (String group : dlqOf.keySet()) {
      Thread thread = new Thread(() -> {
        try {
          consumed.put(normalise(group), consume(bootstrap, topic, group, records.length));
        } catch (Throwable t) {
          failures.add(t);
        }
      }, group);
      threads.add(thread);
      thread.start();
    }
    for (Thread thread : threads) thread.join(90_000);
    if (!failures.isEmpty()) {
      failures.get(0).printStackTrace();
      System.exit(1);
    }
    step("consumed", json(new TreeMap<>(consumed)));

    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      // Settled: every group's start offset at each partition's end (a record going to a DLQ is archived once written, or failed).
      Map<TopicPartition, Long> ends = new HashMap<>();
      ends.put(new TopicPartition(topic, 0), 2L);
      ends.put(new TopicPartition(topic, 1), 3L);
      Map<String, Object> offsets = new TreeMap<>();
      long deadline = System.currentTimeMillis() + 30_000;
      while (true) {
        offsets.clear();
        boolean settled = true;
        Map<String, ListShareGroupOffsetsSpec> specs = new HashMap<>();
        for (String group : dlqOf.keySet()) specs.put(group, new ListShareGroupOffsetsSpec().topicPartitions(ends.keySet()));
        Map<String, Map<TopicPartition, SharePartitionOffsetInfo>> listed = admin.listShareGroupOffsets(specs).all().get();
        for (Map.Entry<String, Map<TopicPartition, SharePartitionOffsetInfo>> group : listed.entrySet()) {
          Map<String, Object> partitions = new TreeMap<>();
          for (Map.Entry<TopicPartition, Long> end : ends.entrySet()) {
            SharePartitionOffsetInfo info = group.getValue().get(end.getKey());
            // Settled: nothing left to deliver (lag 0), or the start offset at the end where lag is not answered.
            if (info == null || info.lag().map(lag -> lag != 0).orElse(info.startOffset() != end.getValue())) settled = false;
            // Not the start offset: Kafka 4.4 describes the one its share coordinator last persisted, written with each
            // acknowledgement before the start moves past what that acknowledgement settled (so it stays behind the
            // last record settled, until the next write); Spool's is where the start is.
            partitions.put(String.valueOf(end.getKey().partition()), info == null ? null : info.lag().<Object>map(lag -> lag).orElse("none"));
          }
          offsets.put(normalise(group.getKey()), partitions);
        }
        if (settled || System.currentTimeMillis() > deadline) break;
        Thread.sleep(250);
      }
      step("offsets", json(offsets));

      List<Map<String, Object>> deadLetters = readDlq(bootstrap, dlq, 3, 6, producedAt);
      step("dead-letters", json(deadLetters));

      Map<String, Object> notWritten = new TreeMap<>();
      Set<String> names = admin.listTopics().names().get();
      notWritten.put(normalise(missing) + " exists", names.contains(missing));
      for (String name : List.of(plain, noPrefix)) {
        TopicPartition tp = new TopicPartition(name, 0);
        long end = admin.listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp).get().offset();
        notWritten.put(normalise(name) + " end offset", end);
      }
      step("not-written", json(notWritten));
    }
  }

  static AlterConfigOp set(String name, String value) {
    return new AlterConfigOp(new ConfigEntry(name, value), AlterConfigOp.OpType.SET);
  }

  /** One group's consumer: REJECTs reject-*, RELEASEs release-* every time, ACCEPTs the rest; until all are settled. */
  static List<String> consume(String bootstrap, String topic, String group, int records) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("group.id", group);
    p.put("client.id", group);
    p.put("share.acknowledgement.mode", "explicit");
    p.put("key.deserializer", StringDeserializer.class.getName());
    p.put("value.deserializer", StringDeserializer.class.getName());
    List<String> seen = new ArrayList<>();
    int settled = 0;
    try (KafkaShareConsumer<String, String> consumer = new KafkaShareConsumer<>(p)) {
      consumer.subscribe(List.of(topic));
      long deadline = System.currentTimeMillis() + 60_000;
      while (settled < records && System.currentTimeMillis() < deadline) {
        ConsumerRecords<String, String> polled = consumer.poll(Duration.ofMillis(200));
        for (ConsumerRecord<String, String> record : polled) {
          int delivery = record.deliveryCount().map(Short::intValue).orElse(-1);
          AcknowledgeType type;
          if (record.value().startsWith("reject")) type = AcknowledgeType.REJECT;
          else if (record.value().startsWith("release")) type = AcknowledgeType.RELEASE;
          else type = AcknowledgeType.ACCEPT;
          consumer.acknowledge(record, type);
          seen.add(record.value() + "@" + delivery + ":" + type);
          if (type != AcknowledgeType.RELEASE || delivery >= 2) settled++;
        }
        if (!polled.isEmpty()) consumer.commitSync();
      }
    }
    Collections.sort(seen);
    return seen;
  }

  /** The DLQ topic's records from the start of each partition, until `expected` are read (or 30 s), sorted by where they came from. */
  static List<Map<String, Object>> readDlq(String bootstrap, String dlq, int partitions, int expected, long producedAt) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("key.deserializer", StringDeserializer.class.getName());
    p.put("value.deserializer", StringDeserializer.class.getName());
    List<ConsumerRecord<String, String>> read = new ArrayList<>();
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
      List<TopicPartition> tps = new ArrayList<>();
      for (int i = 0; i < partitions; i++) tps.add(new TopicPartition(dlq, i));
      consumer.assign(tps);
      consumer.seekToBeginning(tps);
      long deadline = System.currentTimeMillis() + 30_000;
      while (read.size() < expected && System.currentTimeMillis() < deadline)
        for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(200))) read.add(record);
      // A little longer: a duplicate would show.
      for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) read.add(record);
    }
    List<Map<String, Object>> out = new ArrayList<>();
    for (ConsumerRecord<String, String> record : read) {
      Map<String, Object> letter = new LinkedHashMap<>();
      List<String> headers = new ArrayList<>();
      boolean original = false;
      for (Header header : record.headers()) {
        String value = header.value() == null ? "null" : new String(header.value(), StandardCharsets.UTF_8);
        headers.add(header.key() + "=" + normalise(value));
        if (header.key().equals("orig-h")) original = true;
      }
      letter.put("group", normalise(header(record, "__dlq.errors.group")));
      letter.put("source", header(record, "__dlq.errors.partition") + ":" + header(record, "__dlq.errors.offset"));
      letter.put("dlqPartition", record.partition());
      letter.put("key", record.key());
      letter.put("value", record.value());
      letter.put("headers", headers);
      letter.put("originalHeader", original);
      letter.put("timestampType", record.timestampType().toString());
      letter.put("writeTime", record.timestamp() >= producedAt);
      out.add(letter);
    }
    out.sort(Comparator.comparing((Map<String, Object> letter) -> String.valueOf(letter.get("group")))
        .thenComparing(letter -> String.valueOf(letter.get("source"))));
    return out;
  }

  static String header(ConsumerRecord<?, ?> record, String name) {
    Header header = record.headers().lastHeader(name);
    return header == null || header.value() == null ? null : new String(header.value(), StandardCharsets.UTF_8);
  }

  /** The run's names as placeholders: the same output on every run and server. */
  static String normalise(String text) {
    return text == null ? null : text.replace(topicBase, "<topic>").replace(groupBase, "<group>");
  }

  static void step(String name, String resultJson) {
    System.out.println("{\"step\":\"" + name + "\",\"result\":" + resultJson + "}");
  }

  /** JSON for maps, lists, strings, numbers, booleans and null. */
  static String json(Object value) {
    if (value == null) return "null";
    if (value instanceof String s) return quote(s);
    if (value instanceof Number || value instanceof Boolean) return value.toString();
    StringBuilder out = new StringBuilder();
    if (value instanceof Map<?, ?> map) {
      out.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> entry : map.entrySet()) {
        if (!first) out.append(',');
        first = false;
        out.append(quote(String.valueOf(entry.getKey()))).append(':').append(json(entry.getValue()));
      }
      return out.append('}').toString();
    }
    if (value instanceof List<?> list) {
      out.append('[');
      for (int i = 0; i < list.size(); i++) {
        if (i > 0) out.append(',');
        out.append(json(list.get(i)));
      }
      return out.append(']').toString();
    }
    return quote(value.toString());
  }

  static String quote(String s) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') out.append('\\').append(c);
      else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
      else out.append(c);
    }
    return out.append('"').toString();
  }
}
