package spool.interop;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ShareGroupDescription;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Share groups (KIP-932) with kafka-clients 4.x's KafkaShareConsumer, explicit acknowledgement. The
 * topic (created here) holds RECORDS records; the group is set to start at the earliest offset
 * (share.auto.offset.reset=earliest, a group config set with Admin). Then:
 *  - a "quitter" polls once and closes without acknowledging: what it held is released at once;
 *  - three workers share the partitions: every record whose value ends in 7 is released the first
 *    time it is delivered, one ending in 3 is rejected, the rest accepted;
 * until every record is accepted or rejected. Prints a JSON line per step, {"step", "result"}, for
 * share-groups.test.ts and the differential harness (the same on Spool as on Kafka 4.x): the records
 * accepted (and accepted more than once) and rejected, the highest delivery count seen, how many
 * records came back at delivery 2 (every one ending in 7: released, or held by the quitter), and the
 * group as Admin describes it while the workers are in it and after they left.
 *
 *   java -cp classes:<classpath> spool.interop.ShareInterop BOOTSTRAP TOPIC GROUP PARTITIONS RECORDS
 */
public final class ShareInterop {
  private static final Map<String, AtomicInteger> accepted = new ConcurrentHashMap<>();
  private static final Map<String, AtomicInteger> rejected = new ConcurrentHashMap<>();
  private static final AtomicInteger released = new AtomicInteger();
  private static final AtomicInteger redeliveredAtTwo = new AtomicInteger();
  private static final AtomicInteger maxDelivery = new AtomicInteger();
  private static final AtomicInteger quitterHeld = new AtomicInteger();

  static Properties props(String bootstrap, String group, String clientId) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("group.id", group);
    p.put("client.id", clientId);
    p.put("share.acknowledgement.mode", "explicit");
    p.put("key.deserializer", StringDeserializer.class.getName());
    p.put("value.deserializer", StringDeserializer.class.getName());
    return p;
  }

  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String topic = args[1];
    String group = args[2];
    int partitions = Integer.parseInt(args[3]);
    int records = Integer.parseInt(args[4]);

    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
      // As kafka-configs.sh --entity-type groups does: the group starts at the earliest offset.
      ConfigResource resource = new ConfigResource(ConfigResource.Type.GROUP, group);
      AlterConfigOp earliest = new AlterConfigOp(new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET);
      admin.incrementalAlterConfigs(Map.of(resource, List.of(earliest))).all().get();
    }
    step("configure", "\"ok\"");
    Properties pp = new Properties();
    pp.put("bootstrap.servers", bootstrap);
    pp.put("key.serializer", StringSerializer.class.getName());
    pp.put("value.serializer", StringSerializer.class.getName());
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
      for (int i = 0; i < records; i++) producer.send(new ProducerRecord<>(topic, "k" + i, "v" + i));
      producer.flush();
    }

    // The quitter takes some records and leaves without acknowledging them.
    Properties quitterProps = props(bootstrap, group, "quitter");
    quitterProps.put("max.poll.records", "20");
    try (KafkaShareConsumer<String, String> quitter = new KafkaShareConsumer<>(quitterProps)) {
      quitter.subscribe(List.of(topic));
      long until = System.currentTimeMillis() + 30_000;
      while (quitterHeld.get() == 0 && System.currentTimeMillis() < until) {
        ConsumerRecords<String, String> polled = quitter.poll(Duration.ofMillis(500));
        quitterHeld.addAndGet(polled.count());
      }
    }

    step("quitter", "{\"held\":" + (quitterHeld.get() > 0) + "}");

    AtomicBoolean stop = new AtomicBoolean();
    List<Thread> threads = new ArrayList<>();
    List<Throwable> failures = new ArrayList<>();
    for (int w = 0; w < 3; w++) {
      String name = "worker-" + w;
      Thread thread = new Thread(() -> {
        try (KafkaShareConsumer<String, String> consumer = new KafkaShareConsumer<>(props(bootstrap, group, name))) {
          consumer.subscribe(List.of(topic));
          while (!stop.get()) {
            ConsumerRecords<String, String> polled = consumer.poll(Duration.ofMillis(200));
            for (ConsumerRecord<String, String> record : polled) {
              int delivery = record.deliveryCount().map(Short::intValue).orElse(-1);
              maxDelivery.accumulateAndGet(delivery, Math::max);
              String value = record.value();
              if (value.endsWith("7") && delivery == 1) {
                consumer.acknowledge(record, AcknowledgeType.RELEASE);
                released.incrementAndGet();
              } else if (value.endsWith("3") && value.length() > 2) {
                consumer.acknowledge(record, AcknowledgeType.REJECT);
                rejected.computeIfAbsent(value, k -> new AtomicInteger()).incrementAndGet();
              } else {
                if (value.endsWith("7")) redeliveredAtTwo.incrementAndGet();
                consumer.acknowledge(record, AcknowledgeType.ACCEPT);
                accepted.computeIfAbsent(value, k -> new AtomicInteger()).incrementAndGet();
              }
            }
            if (!polled.isEmpty()) consumer.commitSync();
          }
        } catch (Throwable t) {
          synchronized (failures) {
            failures.add(t);
          }
        }
      }, name);
      threads.add(thread);
      thread.start();
    }
    long deadline = System.currentTimeMillis() + 120_000;
    while (accepted.size() + rejected.size() < records && System.currentTimeMillis() < deadline && failures.isEmpty()) Thread.sleep(100);
    // While the workers are still members: the group as Admin describes it.
    step("describe", describe(bootstrap, group));
    stop.set(true);
    for (Thread thread : threads) thread.join(30_000);
    if (!failures.isEmpty()) {
      failures.get(0).printStackTrace();
      System.exit(1);
    }
    int acceptedTwice = 0;
    for (AtomicInteger n : accepted.values()) if (n.get() > 1) acceptedTwice++;
    step(
        "workers",
        "{\"records\":" + records
            + ",\"accepted\":" + accepted.size()
            + ",\"acceptedTwice\":" + acceptedTwice
            + ",\"rejected\":" + rejected.size()
            + ",\"redeliveredAtTwo\":" + redeliveredAtTwo.get()
            + ",\"maxDelivery\":" + maxDelivery.get()
            + ",\"releasedSome\":" + (released.get() > 0) + "}");
    step("describe-after", describe(bootstrap, group));
  }

  static void step(String name, String resultJson) {
    System.out.println("{\"step\":\"" + name + "\",\"result\":" + resultJson + "}");
  }

  static String describe(String bootstrap, String group) {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      ShareGroupDescription d = admin.describeShareGroups(List.of(group)).describedGroups().get(group).get();
      return "{\"state\":\"" + d.groupState() + "\",\"members\":" + d.members().size() + "}";
    } catch (Exception e) {
      return "{\"error\":\"" + e.getClass().getSimpleName() + "\"}";
    }
  }
}
