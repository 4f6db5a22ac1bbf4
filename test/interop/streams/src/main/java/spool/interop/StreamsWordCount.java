package spool.interop;

import java.time.Duration;
import java.util.Arrays;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/**
 * Kafka Streams' word count: lines from the input topic are split into words, regrouped by word
 * (a repartition topic) and counted in a state store (its changelog a compacted topic); each new
 * count goes to the output topic, keyed by word, as a long.
 *
 * <pre>StreamsWordCount BOOTSTRAP APPLICATION_ID INPUT OUTPUT STATE_DIR [PROCESSING_GUARANTEE]</pre>
 *
 * PROCESSING_GUARANTEE is at_least_once (the default, Streams' own) or exactly_once_v2: then each
 * stream thread's producer is transactional (KIP-447: one transactional id per thread, its commits
 * carrying the consumed offsets through TxnOffsetCommit), the consumers read read_committed, and an
 * instance killed mid-transaction leaves a transaction the broker aborts when a successor with the
 * same state directory (hence the same transactional id) calls InitProducerId, or after
 * transaction.timeout.ms (10 s, Streams' default under EOS, set here explicitly).
 *
 * Prints "state RUNNING" (and each other state) on stdout as the application moves; on SIGTERM it
 * closes (committing what it processed) and the JVM ends as signalled (status 143); exits 1 if the
 * application fails.
 */
public final class StreamsWordCount {
  public static void main(String[] args) throws InterruptedException {
    String guarantee = args.length == 6 ? args[5] : StreamsConfig.AT_LEAST_ONCE;
    if ((args.length != 5 && args.length != 6)
        || !(guarantee.equals(StreamsConfig.AT_LEAST_ONCE) || guarantee.equals(StreamsConfig.EXACTLY_ONCE_V2))) {
      System.err.println("usage: StreamsWordCount BOOTSTRAP APPLICATION_ID INPUT OUTPUT STATE_DIR [at_least_once|exactly_once_v2]");
      System.exit(2);
    }
    Properties props = new Properties();
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, args[1]);
    props.put(StreamsConfig.STATE_DIR_CONFIG, args[4]);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
    if (guarantee.equals(StreamsConfig.EXACTLY_ONCE_V2)) {
      // A transaction left open by a killed instance is aborted at most this long after its start.
      props.put(StreamsConfig.producerPrefix("transaction.timeout.ms"), 10_000);
    }
    props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.String().getClass());
    props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.String().getClass());
    props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 500);
    props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0); // every count goes out, not only the last of a commit interval
    props.put(StreamsConfig.REPARTITION_PURGE_INTERVAL_MS_CONFIG, 1000); // DeleteRecords on the repartition topic once a second, not every 30
    // The internal topics (changelog, repartition): segments roll and become cleanable within a second.
    props.put(StreamsConfig.topicPrefix("segment.ms"), 500);
    props.put(StreamsConfig.topicPrefix("min.cleanable.dirty.ratio"), 0.01);
    props.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");
    // Streams leaves no group on close: a successor waits for the session to expire (45 s by default).
    props.put(StreamsConfig.consumerPrefix("session.timeout.ms"), 10_000);
    props.put(StreamsConfig.consumerPrefix("heartbeat.interval.ms"), 2_000);

    StreamsBuilder builder = new StreamsBuilder();
    builder.<String, String>stream(args[2])
        .flatMapValues(line -> Arrays.asList(line.toLowerCase().split("\\W+")))
        .filter((key, word) -> !word.isEmpty())
        .groupBy((key, word) -> word, Grouped.with("words", Serdes.String(), Serdes.String()))
        .count(Materialized.as("counts"))
        .toStream()
        .to(args[3], Produced.with(Serdes.String(), Serdes.Long()));

    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    CountDownLatch done = new CountDownLatch(1);
    AtomicBoolean signalled = new AtomicBoolean(false);
    streams.setStateListener((next, previous) -> {
      System.out.println("state " + next);
      System.out.flush();
      if (next == KafkaStreams.State.ERROR || next == KafkaStreams.State.NOT_RUNNING) done.countDown();
    });
    streams.setUncaughtExceptionHandler(error -> {
      System.err.println("stream thread failed: " + error);
      return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      signalled.set(true);
      streams.close(Duration.ofSeconds(30));
      done.countDown();
    }));
    streams.start();
    done.await();
    // On a signal the JVM ends once the hook is done (System.exit here would wait on the hook forever).
    if (!signalled.get()) System.exit(streams.state() == KafkaStreams.State.ERROR ? 1 : 0);
  }
}
