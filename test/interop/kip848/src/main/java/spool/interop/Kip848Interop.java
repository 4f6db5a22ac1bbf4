package spool.interop;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Two kafka-clients 4.x consumers with group.protocol=consumer (KIP-848) share a topic's partitions,
 * commit what they consume, and a third joins: the coordinator moves partitions to it incrementally
 * (the first two are asked to give up only some). Prints one JSON line for kip848.test.ts to judge:
 * what each consumed, their assignments before and after the third joined, what each was asked to
 * revoke, and the committed offsets against the topic's end offsets.
 *
 *   java -cp classes:<classpath> spool.interop.Kip848Interop BOOTSTRAP TOPIC GROUP PARTITIONS RECORDS
 */
public final class Kip848Interop {
  private static final Map<String, AtomicInteger> consumed = new ConcurrentHashMap<>();

  static final class Member implements Runnable {
    final String name;
    final KafkaConsumer<String, String> consumer;
    final AtomicBoolean stop = new AtomicBoolean();
    volatile Set<Integer> assignment = new TreeSet<>();
    final List<Set<Integer>> revoked = new ArrayList<>();
    volatile Throwable failure;
    final Thread thread;

    Member(String bootstrap, String topic, String group, String name) {
      this.name = name;
      Properties p = new Properties();
      p.put("bootstrap.servers", bootstrap);
      p.put("group.id", group);
      p.put("group.protocol", "consumer");
      p.put("client.id", name);
      p.put("enable.auto.commit", "false");
      p.put("auto.offset.reset", "earliest");
      p.put("key.deserializer", StringDeserializer.class.getName());
      p.put("value.deserializer", StringDeserializer.class.getName());
      consumer = new KafkaConsumer<>(p);
      consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
          if (partitions.isEmpty()) return;
          Set<Integer> set = new TreeSet<>();
          for (TopicPartition tp : partitions) set.add(tp.partition());
          synchronized (revoked) {
            revoked.add(set);
          }
          consumer.commitSync();
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {}
      });
      thread = new Thread(this, name);
    }

    @Override
    public void run() {
      try {
        while (!stop.get()) {
          var records = consumer.poll(Duration.ofMillis(200));
          for (ConsumerRecord<String, String> r : records) {
            consumed.computeIfAbsent(r.partition() + ":" + r.offset(), k -> new AtomicInteger()).incrementAndGet();
          }
          if (!records.isEmpty()) consumer.commitSync();
          Set<Integer> now = new TreeSet<>();
          for (TopicPartition tp : consumer.assignment()) now.add(tp.partition());
          assignment = now;
        }
        consumer.commitSync();
      } catch (Throwable t) {
        failure = t;
      } finally {
        consumer.close();
      }
    }
  }

  public static void main(String[] args) throws Exception {
    String bootstrap = args[0], topic = args[1], group = args[2];
    int partitions = Integer.parseInt(args[3]), records = Integer.parseInt(args[4]);
    Properties common = new Properties();
    common.put("bootstrap.servers", bootstrap);
    try (Admin admin = Admin.create(common)) {
      admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
      produce(bootstrap, topic, 0, records);

      Member a = new Member(bootstrap, topic, group, "kip848-a");
      Member b = new Member(bootstrap, topic, group, "kip848-b");
      a.thread.start();
      b.thread.start();
      await("the first two consume every record, sharing the partitions", () ->
          consumed.size() == records && a.assignment.size() + b.assignment.size() == partitions
              && !a.assignment.isEmpty() && !b.assignment.isEmpty(), a, b);
      Map<String, Set<Integer>> before = new TreeMap<>(Map.of("a", a.assignment, "b", b.assignment));
      int revocationsBefore = a.revoked.size() + b.revoked.size();

      Member c = new Member(bootstrap, topic, group, "kip848-c");
      c.thread.start();
      await("the third gets partitions", () -> !c.assignment.isEmpty()
          && a.assignment.size() + b.assignment.size() + c.assignment.size() == partitions, a, b, c);
      produce(bootstrap, topic, records, records);
      await("every record of both rounds is consumed", () -> consumed.size() == 2 * records, a, b, c);
      Map<String, Set<Integer>> after = new TreeMap<>(Map.of("a", a.assignment, "b", b.assignment, "c", c.assignment));

      String described;
      try {
        ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
        described = "{\"type\":\"" + d.type() + "\",\"state\":\"" + d.groupState() + "\",\"members\":" + d.members().size() + "}";
      } catch (Exception e) {
        described = "{\"error\":" + quote(e.toString()) + "}";
      }

      for (Member m : List.of(a, b, c)) m.stop.set(true);
      for (Member m : List.of(a, b, c)) m.thread.join(30_000);
      for (Member m : List.of(a, b, c)) if (m.failure != null) throw new RuntimeException(m.name + " failed", m.failure);

      boolean committedAtEnd = MixedInterop.committedAtEnd(admin, group, topic, partitions);
      long duplicates = consumed.values().stream().filter(n -> n.get() > 1).count();
      StringBuilder json = new StringBuilder("{");
      json.append("\"records\":").append(2 * records);
      json.append(",\"consumed\":").append(consumed.size());
      json.append(",\"duplicates\":").append(duplicates);
      json.append(",\"before\":").append(sets(before));
      json.append(",\"after\":").append(sets(after));
      json.append(",\"revocationsBefore\":").append(revocationsBefore);
      json.append(",\"revokedA\":").append(a.revoked).append(",\"revokedB\":").append(b.revoked);
      json.append(",\"committedAtEnd\":").append(committedAtEnd);
      json.append(",\"described\":").append(described);
      json.append("}");
      System.out.println(json);
    }
  }

  private static void produce(String bootstrap, String topic, int from, int count) throws Exception {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("key.serializer", StringSerializer.class.getName());
    p.put("value.serializer", StringSerializer.class.getName());
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      for (int i = from; i < from + count; i++) producer.send(new ProducerRecord<>(topic, "k" + i, "v" + i));
      producer.flush();
    }
  }

  private static void await(String what, BooleanSupplier done, Member... members) throws InterruptedException {
    long deadline = System.currentTimeMillis() + 60_000;
    while (!done.getAsBoolean()) {
      for (Member m : members) if (m.failure != null) throw new RuntimeException(m.name + " failed while waiting until " + what, m.failure);
      if (System.currentTimeMillis() > deadline) {
        StringBuilder state = new StringBuilder();
        for (Member m : members) state.append(' ').append(m.name).append('=').append(m.assignment);
        throw new IllegalStateException("timed out waiting until " + what + "; consumed " + consumed.size() + ";" + state);
      }
      Thread.sleep(100);
    }
  }

  private static String sets(Map<String, Set<Integer>> byName) {
    StringBuilder out = new StringBuilder("{");
    for (var e : byName.entrySet()) {
      if (out.length() > 1) out.append(',');
      out.append('"').append(e.getKey()).append("\":").append(e.getValue());
    }
    return out.append('}').toString();
  }

  private static String quote(String s) {
    return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", " ") + '"';
  }
}
