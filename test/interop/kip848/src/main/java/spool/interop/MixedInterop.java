package spool.interop;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * A mixed group, as Kafka 4.x runs one: a kafka-clients 4.x consumer with group.protocol=consumer
 * (KIP-848) and one with group.protocol=classic (JoinGroup/SyncGroup/Heartbeat) in the same group. They
 * share the topic's partitions and consume every record once; the consumer-protocol member leaves and
 * the classic one ends up with every partition. Prints one JSON line for kip848.test.ts to judge.
 *
 *   java -cp classes:<classpath> spool.interop.MixedInterop BOOTSTRAP TOPIC GROUP PARTITIONS RECORDS
 */
public final class MixedInterop {
  /** Times each record (partition:offset) was consumed, by any member. */
  static final Map<String, AtomicInteger> consumed = new ConcurrentHashMap<>();

  static final class Member implements Runnable {
    final String name;
    final KafkaConsumer<String, String> consumer;
    final AtomicBoolean stop = new AtomicBoolean();
    volatile Set<Integer> assignment = new TreeSet<>();
    volatile Throwable failure;
    final Thread thread;

    Member(String bootstrap, String topic, String group, String name, String protocol) {
      this.name = name;
      Properties p = new Properties();
      p.put("bootstrap.servers", bootstrap);
      p.put("group.id", group);
      p.put("group.protocol", protocol);
      p.put("client.id", name);
      p.put("enable.auto.commit", "false");
      p.put("auto.offset.reset", "earliest");
      p.put("key.deserializer", StringDeserializer.class.getName());
      p.put("value.deserializer", StringDeserializer.class.getName());
      if (protocol.equals("classic")) {
        p.put("session.timeout.ms", "10000");
        p.put("heartbeat.interval.ms", "500");
      }
      consumer = new KafkaConsumer<>(p);
      consumer.subscribe(List.of(topic));
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

      Member next = new Member(bootstrap, topic, group, "mixed-consumer", "consumer");
      next.thread.start();
      await("the consumer-protocol member gets the partitions", () -> next.assignment.size() == partitions, next);
      Member classic = new Member(bootstrap, topic, group, "mixed-classic", "classic");
      classic.thread.start();
      await("both members share the partitions and consume every record", () ->
          consumed.size() == records && !next.assignment.isEmpty() && !classic.assignment.isEmpty()
              && next.assignment.size() + classic.assignment.size() == partitions, next, classic);
      Set<Integer> shared = new TreeSet<>(next.assignment);
      shared.retainAll(classic.assignment);
      String both = "{\"consumer\":" + next.assignment + ",\"classic\":" + classic.assignment + ",\"overlap\":" + shared.size() + "}";

      String described;
      try {
        ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
        StringBuilder upgraded = new StringBuilder("{");
        for (MemberDescription m : d.members()) {
          if (upgraded.length() > 1) upgraded.append(',');
          upgraded.append(quote(m.clientId())).append(':').append(m.upgraded().map(String::valueOf).orElse("null"));
        }
        upgraded.append('}');
        described = "{\"type\":\"" + d.type() + "\",\"state\":\"" + d.groupState() + "\",\"upgraded\":" + upgraded + "}";
      } catch (Exception e) {
        described = "{\"error\":" + quote(e.toString()) + "}";
      }

      next.stop.set(true);
      next.thread.join(30_000);
      await("the classic member takes every partition", () -> classic.assignment.size() == partitions, classic);
      produce(bootstrap, topic, records, records);
      await("every record of both rounds is consumed", () -> consumed.size() == 2 * records, classic);
      classic.stop.set(true);
      classic.thread.join(30_000);
      for (Member m : List.of(next, classic)) if (m.failure != null) throw new RuntimeException(m.name + " failed", m.failure);

      boolean committedAtEnd = committedAtEnd(admin, group, topic, partitions);
      long duplicates = consumed.values().stream().filter(n -> n.get() > 1).count();
      System.out.println("{\"records\":" + 2 * records + ",\"consumed\":" + consumed.size() + ",\"duplicates\":" + duplicates
          + ",\"shared\":" + both + ",\"committedAtEnd\":" + committedAtEnd + ",\"described\":" + described + "}");
    }
  }

  /** Whether the group's committed offset of every partition of the topic is the partition's end. */
  static boolean committedAtEnd(Admin admin, String group, String topic, int partitions) throws Exception {
    Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
    Map<TopicPartition, OffsetSpec> latest = new java.util.HashMap<>();
    for (int p = 0; p < partitions; p++) latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
    var ends = admin.listOffsets(latest).all().get();
    for (int p = 0; p < partitions; p++) {
      TopicPartition tp = new TopicPartition(topic, p);
      OffsetAndMetadata o = committed.get(tp);
      if (o == null || o.offset() != ends.get(tp).offset()) return false;
    }
    return true;
  }

  static void produce(String bootstrap, String topic, int from, int count) throws Exception {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("key.serializer", StringSerializer.class.getName());
    p.put("value.serializer", StringSerializer.class.getName());
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      for (int i = from; i < from + count; i++) producer.send(new ProducerRecord<>(topic, "k" + i, "v" + i));
      producer.flush();
    }
  }

  static void await(String what, BooleanSupplier done, Member... members) throws InterruptedException {
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

  static String quote(String s) {
    return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", " ") + '"';
  }
}
