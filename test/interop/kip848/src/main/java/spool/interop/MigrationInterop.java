package spool.interop;

import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewTopic;

/**
 * Kafka 4.x's online migration of a group between the protocols, with kafka-clients 4.x: a
 * group.protocol=classic consumer forms a classic group; a group.protocol=consumer consumer joining
 * it upgrades it to a consumer group (the classic member stays, sharing the partitions); when the
 * consumer-protocol member leaves, the group is downgraded back to a classic group, whose member
 * takes every partition. Every record is consumed once and the offsets committed. Prints one JSON
 * line per step ({"step", "result"}), each waited for until it holds, so that the results do not
 * depend on timing: differential.test.ts compares them with Apache Kafka 4.x's.
 *
 *   java -cp classes:<classpath> spool.interop.MigrationInterop BOOTSTRAP TOPIC GROUP PARTITIONS RECORDS
 */
public final class MigrationInterop {
  public static void main(String[] args) throws Exception {
    String bootstrap = args[0], topic = args[1], group = args[2];
    int partitions = Integer.parseInt(args[3]), records = Integer.parseInt(args[4]);
    Properties common = new Properties();
    common.put("bootstrap.servers", bootstrap);
    try (Admin admin = Admin.create(common)) {
      admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
      MixedInterop.produce(bootstrap, topic, 0, records);

      MixedInterop.Member classic = new MixedInterop.Member(bootstrap, topic, group, "migration-classic", "classic");
      classic.thread.start();
      MixedInterop.await("the classic member consumes every record", () ->
          classic.assignment.size() == partitions && MixedInterop.consumed.size() == records
              && described(admin, group).contains("\"state\":\"Stable\""), classic);
      emit("classic-group", "{\"partitions\":" + classic.assignment.size() + ",\"group\":" + described(admin, group) + "}");

      MixedInterop.Member next = new MixedInterop.Member(bootstrap, topic, group, "migration-consumer", "consumer");
      next.thread.start();
      MixedInterop.await("the upgraded group's members share the partitions", () ->
          !next.assignment.isEmpty() && !classic.assignment.isEmpty()
              && next.assignment.size() + classic.assignment.size() == partitions
              && described(admin, group).contains("\"state\":\"Stable\""), next, classic);
      Set<Integer> overlap = new TreeSet<>(next.assignment);
      overlap.retainAll(classic.assignment);
      emit("upgraded", "{\"overlap\":" + overlap.size() + ",\"group\":" + described(admin, group) + "}");

      next.stop.set(true);
      next.thread.join(30_000);
      MixedInterop.await("the downgraded group's classic member has every partition", () ->
          classic.assignment.size() == partitions && described(admin, group).contains("\"type\":\"Classic\",\"state\":\"Stable\""),
          classic);
      emit("downgraded", "{\"partitions\":" + classic.assignment.size() + ",\"group\":" + described(admin, group) + "}");

      MixedInterop.produce(bootstrap, topic, records, records);
      MixedInterop.await("every record of both rounds is consumed", () -> MixedInterop.consumed.size() == 2 * records, classic);
      classic.stop.set(true);
      classic.thread.join(30_000);
      for (MixedInterop.Member m : List.of(next, classic))
        if (m.failure != null) throw new RuntimeException(m.name + " failed", m.failure);

      boolean committedAtEnd = MixedInterop.committedAtEnd(admin, group, topic, partitions);
      long duplicates = MixedInterop.consumed.values().stream().filter(n -> n.get() > 1).count();
      emit("consumed", "{\"records\":" + 2 * records + ",\"consumed\":" + MixedInterop.consumed.size() + ",\"duplicates\":"
          + duplicates + ",\"committedAtEnd\":" + committedAtEnd + "}");
    }
  }

  /** The group as Admin describes it: type, state and members (client id → upgraded), members in order of client id. */
  static String described(Admin admin, String group) {
    try {
      ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
      Map<String, String> members = new TreeMap<>();
      for (MemberDescription m : d.members()) members.put(m.clientId(), m.upgraded().map(String::valueOf).orElse("null"));
      StringBuilder out = new StringBuilder("{\"type\":\"" + d.type() + "\",\"state\":\"" + d.groupState() + "\",\"members\":{");
      members.forEach((id, upgraded) -> out.append(out.charAt(out.length() - 1) == '{' ? "" : ",").append(MixedInterop.quote(id)).append(':').append(upgraded));
      return out.append("}}").toString();
    } catch (Exception e) {
      return "{\"error\":" + MixedInterop.quote(e.toString()) + "}";
    }
  }

  private static void emit(String step, String result) {
    System.out.println("{\"step\":\"" + step + "\",\"result\":" + result + "}");
    System.out.flush();
  }
}
