package spool.interop;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Static membership (KIP-345) with the Java client's classic group protocol: two consumers with
 * {@code group.instance.id} split a four-partition topic; one is closed (a static member sends no
 * LeaveGroup) and a new consumer with the same instance id starts within the session timeout. The
 * group should not rebalance: the other keeps its partitions and generation, the new one gets the
 * old one's partitions under a new member id.
 *
 * <pre>
 *   StaticMembershipInterop BOOTSTRAP TOPIC GROUP
 * </pre>
 *
 * Prints one JSON line: the generation and partitions before and after, the member ids of the two
 * incarnations, how often the other consumer's partitions were assigned (by the rebalance listener)
 * after the first split, and the group's members as the admin client describes them at the end.
 */
public final class StaticMembershipInterop {
    private static final Duration POLL = Duration.ofMillis(100);
    private static final long WAIT_MS = 60_000;

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        String group = args[2];
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            admin.createTopics(List.of(new NewTopic(topic, 4, (short) 1))).all().get();

            AtomicInteger assignedToA = new AtomicInteger();
            KafkaConsumer<String, String> a = consumer(bootstrap, group, "static-a");
            a.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {}

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    assignedToA.incrementAndGet();
                }
            });
            KafkaConsumer<String, String> b = consumer(bootstrap, group, "static-b");
            b.subscribe(List.of(topic));
            pollUntil(() -> !a.assignment().isEmpty() && !b.assignment().isEmpty()
                && a.assignment().size() + b.assignment().size() == 4, List.of(a, b));
            int generationBefore = a.groupMetadata().generationId();
            String memberBefore = b.groupMetadata().memberId();
            Set<Integer> aBefore = partitions(a.assignment());
            Set<Integer> bBefore = partitions(b.assignment());
            int assignmentsBefore = assignedToA.get();

            b.close(); // a static member leaves no LeaveGroup behind: its place waits for it
            pollFor(2000, List.of(a));
            KafkaConsumer<String, String> restarted = consumer(bootstrap, group, "static-b");
            restarted.subscribe(List.of(topic));
            pollUntil(() -> !restarted.assignment().isEmpty(), List.of(a, restarted));
            pollFor(4000, List.of(a, restarted)); // heartbeats go on: a rebalance would show now

            ConsumerGroupDescription described = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
            List<String> instances = new ArrayList<>();
            for (MemberDescription member : described.members()) instances.add(member.groupInstanceId().orElse(""));
            instances.sort(null);
            String line = "{"
                + "\"generationBefore\":" + generationBefore
                + ",\"generationAfterA\":" + a.groupMetadata().generationId()
                + ",\"generationAfterB\":" + restarted.groupMetadata().generationId()
                + ",\"aBefore\":" + aBefore
                + ",\"aAfter\":" + partitions(a.assignment())
                + ",\"bBefore\":" + bBefore
                + ",\"bAfter\":" + partitions(restarted.assignment())
                + ",\"memberBefore\":\"" + memberBefore + "\""
                + ",\"memberAfter\":\"" + restarted.groupMetadata().memberId() + "\""
                + ",\"assignedToAAfterSplit\":" + (assignedToA.get() - assignmentsBefore)
                + ",\"state\":\"" + described.state() + "\""
                + ",\"instances\":[\"" + String.join("\",\"", instances) + "\"]"
                + "}";
            a.close();
            restarted.close();
            System.out.println(line);
        }
    }

    private static KafkaConsumer<String, String> consumer(String bootstrap, String group, String instance) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, instance);
        props.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
        props.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        return new KafkaConsumer<>(props);
    }

    private static void pollUntil(BooleanSupplier done, List<KafkaConsumer<String, String>> consumers) {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (!done.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) throw new IllegalStateException("the consumers did not settle in " + WAIT_MS + " ms");
            for (KafkaConsumer<String, String> consumer : consumers) consumer.poll(POLL);
        }
    }

    private static void pollFor(long ms, List<KafkaConsumer<String, String>> consumers) {
        long until = System.currentTimeMillis() + ms;
        while (System.currentTimeMillis() < until) for (KafkaConsumer<String, String> consumer : consumers) consumer.poll(POLL);
    }

    private static Set<Integer> partitions(Set<TopicPartition> assigned) {
        Set<Integer> partitions = new TreeSet<>();
        for (TopicPartition tp : assigned) partitions.add(tp.partition());
        return partitions;
    }
}
