package spool.interop;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Spool's delayed delivery with kafka-clients 4.x's KafkaShareConsumer (nothing Spool-specific in
 * the client): one producer batch of three records on one partition, the middle one with the header
 * spool.deliver.at.ms DELAY_MS ahead. The share consumer (explicit acknowledgement, commitSync after
 * each poll) accepts what it gets until it has all three or 30 s pass, and notes when each came and
 * what each commit answered. Prints one JSON line, {"step":"delayed","result":{...}}: the values in
 * the order received, whether the delayed one came after its time (and the others before it), the
 * delivery counts, and whether every acknowledgement was taken.
 *
 *   java -cp classes:<classpath> spool.interop.ShareDelayInterop BOOTSTRAP TOPIC GROUP DELAY_MS
 */
public final class ShareDelayInterop {
  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String topic = args[1];
    String group = args[2];
    long delayMs = Long.parseLong(args[3]);

    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
      ConfigResource resource = new ConfigResource(ConfigResource.Type.GROUP, group);
      AlterConfigOp earliest = new AlterConfigOp(new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET);
      admin.incrementalAlterConfigs(Map.of(resource, List.of(earliest))).all().get();
    }
    Properties pp = new Properties();
    pp.put("bootstrap.servers", bootstrap);
    pp.put("key.serializer", StringSerializer.class.getName());
    pp.put("value.serializer", StringSerializer.class.getName());
    pp.put("linger.ms", "100"); // the three in one batch
    long dueMs;
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
      dueMs = System.currentTimeMillis() + delayMs;
      producer.send(new ProducerRecord<>(topic, 0, "k0", "now-0"));
      ProducerRecord<String, String> later = new ProducerRecord<>(topic, 0, "k1", "later-1");
      later.headers().add("spool.deliver.at.ms", Long.toString(dueMs).getBytes(StandardCharsets.UTF_8));
      producer.send(later);
      producer.send(new ProducerRecord<>(topic, 0, "k2", "now-2"));
      producer.flush();
    }

    List<String> order = new ArrayList<>();
    List<Integer> deliveries = new ArrayList<>();
    boolean laterAfterDue = false;
    boolean othersBeforeDue = true;
    boolean commitsTaken = true;
    Properties cp = ShareInterop.props(bootstrap, group, "delayed");
    try (KafkaShareConsumer<String, String> consumer = new KafkaShareConsumer<>(cp)) {
      consumer.subscribe(List.of(topic));
      long until = System.currentTimeMillis() + 30_000;
      while (order.size() < 3 && System.currentTimeMillis() < until) {
        for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(200))) {
          long nowMs = System.currentTimeMillis();
          order.add(record.value());
          deliveries.add(record.deliveryCount().map(Short::intValue).orElse(-1));
          if (record.value().startsWith("later")) laterAfterDue = nowMs >= dueMs;
          else othersBeforeDue &= nowMs < dueMs;
          consumer.acknowledge(record, AcknowledgeType.ACCEPT);
        }
        Map<TopicIdPartition, java.util.Optional<org.apache.kafka.common.KafkaException>> committed = consumer.commitSync();
        for (java.util.Optional<org.apache.kafka.common.KafkaException> error : committed.values()) commitsTaken &= error.isEmpty();
      }
    }
    System.out.println(
        "{\"step\":\"delayed\",\"result\":{\"order\":" + quoted(order) + ",\"deliveries\":" + deliveries
            + ",\"laterAfterDue\":" + laterAfterDue + ",\"othersBeforeDue\":" + othersBeforeDue
            + ",\"commitsTaken\":" + commitsTaken + "}}");
  }

  private static String quoted(List<String> values) {
    List<String> out = new ArrayList<>();
    for (String value : values) out.add("\"" + value + "\"");
    return "[" + String.join(",", out) + "]";
  }
}
