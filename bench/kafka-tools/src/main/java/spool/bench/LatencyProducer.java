package spool.bench;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Produce latency at a steady rate, after a warm-up: ProducerPerformance (kafka-tools) measures from
 * its first record, so a fresh JVM's class loading and JIT land in its percentiles; this sends the
 * same kind of records (random bytes, no key) at the same kind of pace, but only measures after
 * `--warmup-seconds`.
 *
 * Latency is acknowledgement time minus the time the record was due (not the time send() returned),
 * so a producer falling behind its schedule shows in the figures instead of hiding them. Each record
 * carries its due time as its timestamp, for a consumer measuring end to end.
 *
 *   LatencyProducer --bootstrap HOST:PORT --topic T --rate RECORDS_PER_S --warmup-seconds W
 *                   --seconds S --record-bytes N [--keyed true] [--prop NAME=VALUE]...
 *   LatencyProducer --bootstrap HOST:PORT --topic T --rate 0 --records N --record-bytes N ...
 *
 * With --rate 0 --records N it sends N records as fast as it can, no warm-up (bulk: the time from
 * the first send to the last acknowledgement is the measure).
 *
 * Prints `measuring <epoch ms>` when the measured window starts, then one line
 * `result records=<n> errors=<n> p50=<ms> p99=<ms> p999=<ms> max=<ms> elapsedMs=<ms>`.
 */
public final class LatencyProducer {
  public static void main(String[] args) throws Exception {
    String bootstrap = null;
    String topic = null;
    int rate = 1000;
    int warmupSeconds = 3;
    int seconds = 10;
    int records = 0;
    int recordBytes = 1024;
    boolean keyed = false;
    Properties props = new Properties();
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put(ProducerConfig.LINGER_MS_CONFIG, "0");
    for (int i = 0; i < args.length; i += 2) {
      String value = args[i + 1];
      switch (args[i]) {
        case "--bootstrap": bootstrap = value; break;
        case "--topic": topic = value; break;
        case "--rate": rate = Integer.parseInt(value); break;
        case "--warmup-seconds": warmupSeconds = Integer.parseInt(value); break;
        case "--seconds": seconds = Integer.parseInt(value); break;
        case "--records": records = Integer.parseInt(value); break;
        case "--record-bytes": recordBytes = Integer.parseInt(value); break;
        case "--keyed": keyed = Boolean.parseBoolean(value); break;
        case "--prop": {
          int eq = value.indexOf('=');
          props.put(value.substring(0, eq), value.substring(eq + 1));
          break;
        }
        default: throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    if (bootstrap == null || topic == null) throw new IllegalArgumentException("--bootstrap and --topic are required");
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());

    // Keyed: a distinct 16-byte key per record (murmur2 spreads them evenly over the partitions) and
    // recordBytes - 16 bytes of value; unkeyed: the client's sticky partitioner picks partitions.
    byte[] value = new byte[keyed ? recordBytes - 16 : recordBytes];
    new Random(42).nextBytes(value);
    // rate <= 0: as fast as the producer takes records (send blocks when its buffer is full).
    long intervalNs = rate > 0 ? 1_000_000_000L / rate : 0;
    if (rate <= 0) warmupSeconds = 0;
    int measured = rate > 0 ? rate * seconds : records;
    long[] latenciesNs = new long[measured];
    AtomicInteger acked = new AtomicInteger();
    AtomicLong errors = new AtomicLong();

    long startNs;
    long endNs;
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
      producer.partitionsFor(topic); // metadata first: not part of the measurement
      startNs = System.nanoTime();
      long startMs = System.currentTimeMillis();
      long warmup = (long) rate * warmupSeconds;
      for (long n = 0; n < warmup + measured; n++) {
        long dueNs = startNs + n * intervalNs;
        long waitNs = dueNs - System.nanoTime();
        if (waitNs > 0) LockSupport.parkNanos(waitNs);
        long dueMs = startMs + (dueNs - startNs) / 1_000_000;
        if (n == warmup) {
          System.out.println("measuring " + dueMs);
          System.out.flush();
        }
        final boolean measure = n >= warmup;
        byte[] key = keyed ? String.format("k%015d", n).getBytes(StandardCharsets.US_ASCII) : null;
        producer.send(new ProducerRecord<>(topic, null, dueMs, key, value), (metadata, error) -> {
          if (error != null) errors.incrementAndGet();
          else if (measure) {
            int slot = acked.getAndIncrement();
            if (slot < latenciesNs.length) latenciesNs[slot] = System.nanoTime() - dueNs;
          }
        });
      }
      producer.flush();
      endNs = System.nanoTime();
    }
    int count = Math.min(acked.get(), latenciesNs.length);
    long[] sorted = Arrays.copyOf(latenciesNs, count);
    Arrays.sort(sorted);
    System.out.printf("result records=%d errors=%d p50=%.2f p99=%.2f p999=%.2f max=%.2f elapsedMs=%.1f%n", count, errors.get(), at(sorted, 0.50), at(sorted, 0.99), at(sorted, 0.999), count == 0 ? 0.0 : sorted[count - 1] / 1e6, (endNs - startNs) / 1e6);
    if (errors.get() > 0 || count < measured) System.exit(1);
  }

  private static double at(long[] sorted, double p) {
    if (sorted.length == 0) return 0;
    return sorted[Math.min(sorted.length - 1, (int) Math.floor(p * sorted.length))] / 1e6;
  }
}
