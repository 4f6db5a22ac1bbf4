package spool.interop;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * A share-group member of the SIGKILL crash loop (test/reliability/crash-loop.ts, run with these
 * members by test/interop/share-crash-loop.test.ts): one KafkaShareConsumer with explicit
 * acknowledgement, reading TOPIC in GROUP until its stdin closes, across the restarts of the agent
 * it reads from (the client reconnects by itself; the crash loop also kills this process now and
 * then, a consumer crash). Every record polled is acknowledged, as a Random seeded with SEED picks:
 * ACCEPT (85 in 100), RELEASE (12: delivered again) or REJECT (3: dead); in 3 polls of 100 the member
 * first sleeps past the group's lock (LOCK_MS + 500), so that its acknowledgements come too late.
 * The acknowledgements go with commitAsync after each poll; the acknowledgement commit callback
 * reports each offset's outcome. One JSON object a line on stdout:
 *
 *   {"event":"delivery","partition":P,"offset":O,"value":V,"deliveryCount":N}     a record polled
 *   {"event":"ack","partition":P,"offset":O,"deliveryCount":N,"type":"accept","late":false}
 *                                                                 acknowledge() called; late: after the sleep
 *   {"event":"acked","partition":P,"offset":O,"error":null}                      the callback, per offset;
 *                                                                 error: the exception's class name
 *   {"event":"error","error":"…","message":"…"}                   poll or commitAsync threw
 *   {"event":"closed"}                                            stdin closed, the consumer closed
 *
 * The crash loop pairs each `acked` with the oldest `ack` of that offset it has not paired yet; an
 * `ack` left unpaired when the process ends was answered nothing. The callback reports the client's
 * own releases too (records it acquired but never handed over, as on close): an `acked` with no
 * `ack` waiting.
 *
 *   java -cp classes:<classpath> spool.interop.ShareCrashMember BOOTSTRAP TOPIC GROUP MEMBER SEED LOCK_MS
 */
public final class ShareCrashMember {
  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String topic = args[1];
    String group = args[2];
    String member = args[3];
    Random random = new Random(Long.parseLong(args[4]));
    long lockMs = Long.parseLong(args[5]);

    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("group.id", group);
    p.put("client.id", member);
    p.put("share.acknowledgement.mode", "explicit");
    p.put("max.poll.records", "20");
    // The agent is down for a second or two at a time: try again soon, and give up on a request soon.
    p.put("reconnect.backoff.ms", "50");
    p.put("reconnect.backoff.max.ms", "500");
    p.put("request.timeout.ms", "5000");
    p.put("key.deserializer", StringDeserializer.class.getName());
    p.put("value.deserializer", StringDeserializer.class.getName());

    AtomicBoolean stop = new AtomicBoolean();
    KafkaShareConsumer<String, String> consumer = new KafkaShareConsumer<>(p);
    Thread stdin = new Thread(() -> {
      try {
        while (System.in.read() != -1) {
          // nothing is read: only its end matters
        }
      } catch (IOException e) {
        // as closed
      }
      stop.set(true);
      consumer.wakeup();
    }, "stdin");
    stdin.setDaemon(true);
    stdin.start();

    consumer.setAcknowledgementCommitCallback((Map<TopicIdPartition, Set<Long>> offsets, Exception exception) -> {
      String error = exception == null ? "null" : quote(exception.getClass().getSimpleName());
      offsets.forEach((tip, set) -> {
        for (long offset : set)
          print("{\"event\":\"acked\",\"partition\":" + tip.partition() + ",\"offset\":" + offset + ",\"error\":" + error + "}");
      });
    });
    consumer.subscribe(List.of(topic));
    while (!stop.get()) {
      try {
        ConsumerRecords<String, String> polled = consumer.poll(Duration.ofMillis(500));
        if (polled.isEmpty()) continue;
        for (ConsumerRecord<String, String> record : polled) {
          print("{\"event\":\"delivery\",\"partition\":" + record.partition() + ",\"offset\":" + record.offset() + ",\"value\":"
              + (record.value() == null ? "null" : quote(record.value())) + ",\"deliveryCount\":" + deliveryCount(record) + "}");
        }
        boolean late = random.nextInt(100) < 3;
        if (late) Thread.sleep(lockMs + 500);
        for (ConsumerRecord<String, String> record : polled) {
          int pick = random.nextInt(100);
          AcknowledgeType type = pick < 85 ? AcknowledgeType.ACCEPT : pick < 97 ? AcknowledgeType.RELEASE : AcknowledgeType.REJECT;
          consumer.acknowledge(record, type);
          print("{\"event\":\"ack\",\"partition\":" + record.partition() + ",\"offset\":" + record.offset() + ",\"deliveryCount\":"
              + deliveryCount(record) + ",\"type\":\"" + type.name().toLowerCase() + "\",\"late\":" + late + "}");
        }
        consumer.commitAsync();
      } catch (WakeupException e) {
        // stdin closed
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      } catch (Exception e) {
        print("{\"event\":\"error\",\"error\":" + quote(e.getClass().getSimpleName()) + ",\"message\":" + quote(String.valueOf(e.getMessage())) + "}");
        Thread.sleep(100);
      }
    }
    // Sends what is still to be acknowledged, and reports it through the callback.
    consumer.close(Duration.ofSeconds(10));
    print("{\"event\":\"closed\"}");
  }

  static int deliveryCount(ConsumerRecord<String, String> record) {
    return record.deliveryCount().map(Short::intValue).orElse(-1);
  }

  static void print(String line) {
    synchronized (System.out) {
      System.out.println(line);
    }
  }

  static String quote(String text) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : text.toCharArray()) {
      if (c == '"' || c == '\\') out.append('\\').append(c);
      else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
      else out.append(c);
    }
    return out.append('"').toString();
  }
}
