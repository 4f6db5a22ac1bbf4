// Command sarama-interop runs the steps of the interop scenario with sarama (github.com/IBM/sarama),
// the Kafka library Filebeat is built on, configured as Filebeat configures it: protocol version
// 2.1.0 (Filebeat's default `version`), acks = 1 (WaitForLocal), gzip batches.
//
//	sarama-interop create-topic --bootstrap HOST:PORT --topic T --partitions N
//	sarama-interop produce      --bootstrap HOST:PORT --topic T      < lines "key:value"
//	sarama-interop member       --bootstrap HOST:PORT --topic T --group G --member NAME [--timeout-ms MS]
//	sarama-interop admin        --bootstrap HOST:PORT --topic T --group G   (differential.test.ts; admin.go)
//
// Every result is one JSON object per line on stdout (see test/interop/clients.ts for the schema);
// diagnostics go to stderr. A member consumes until its standard input is closed (or the timeout
// passes), then commits what it consumed, leaves the group and prints {"event":"closed"}.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Filebeat's default `version` setting: the protocol version sarama speaks (it picks each
// request's version from it rather than from the broker's ApiVersions answer).
var protocolVersion = sarama.V2_1_0_0

var stdout = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

func emit(event map[string]any) {
	stdout.Lock()
	defer stdout.Unlock()
	if err := stdout.enc.Encode(event); err != nil {
		log.Fatalf("writing stdout: %v", err)
	}
}

func newConfig() *sarama.Config {
	config := sarama.NewConfig()
	config.Version = protocolVersion
	config.ClientID = "interop-sarama"
	return config
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("sarama-interop: ")
	if len(os.Args) < 2 {
		log.Fatal("usage: sarama-interop create-topic|produce|member|admin [flags]")
	}
	command := os.Args[1]
	flags := flag.NewFlagSet(command, flag.ExitOnError)
	bootstrap := flags.String("bootstrap", "", "bootstrap address host:port")
	topic := flags.String("topic", "", "topic")
	partitions := flags.Int("partitions", 4, "partitions (create-topic)")
	group := flags.String("group", "", "consumer group id (member)")
	member := flags.String("member", "", "name printed with each record (member)")
	timeoutMs := flags.Int("timeout-ms", 120_000, "a member gives up after this long (member)")
	verbose := flags.Bool("verbose", false, "sarama's own log on stderr")
	_ = flags.Parse(os.Args[2:])
	if *bootstrap == "" || *topic == "" {
		log.Fatal("--bootstrap and --topic are required")
	}
	if *verbose {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.LstdFlags|log.Lmicroseconds)
	}
	brokers := strings.Split(*bootstrap, ",")

	var err error
	switch command {
	case "create-topic":
		err = createTopic(brokers, *topic, int32(*partitions))
	case "produce":
		err = produce(brokers, *topic, os.Stdin)
	case "member":
		if *group == "" || *member == "" {
			log.Fatal("member needs --group and --member")
		}
		err = runMember(brokers, *topic, *group, *member, time.Duration(*timeoutMs)*time.Millisecond)
	case "admin":
		if *group == "" {
			log.Fatal("admin needs --group")
		}
		err = runAdmin(brokers, *topic, *group)
	default:
		log.Fatalf("unknown command %q", command)
	}
	if err != nil {
		log.Fatal(err)
	}
}

func createTopic(brokers []string, topic string, partitions int32) error {
	admin, err := sarama.NewClusterAdmin(brokers, newConfig())
	if err != nil {
		return fmt.Errorf("connecting the cluster admin: %w", err)
	}
	defer admin.Close()
	detail := &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}
	if err := admin.CreateTopic(topic, detail, false); err != nil {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	emit(map[string]any{"event": "topic", "topic": topic, "partitions": partitions})
	return nil
}

// produce sends each "key:value" line of input and prints the partition and offset the broker
// acknowledged it at. The async producer batches what accumulates while a request is in flight, so
// the records go out as multi-record gzip batches, as Filebeat's do.
func produce(brokers []string, topic string, input io.Reader) error {
	config := newConfig()
	config.Producer.RequiredAcks = sarama.WaitForLocal
	config.Producer.Compression = sarama.CompressionGZIP
	// Java's default partitioner (murmur2), so keys land where every other client puts them.
	// Filebeat's own default is an FNV-1a hash; the broker is not involved in either choice.
	config.Producer.Partitioner = sarama.NewMurmur2Partitioner
	config.Producer.Return.Successes = true
	config.Producer.Return.Errors = true
	producer, err := sarama.NewAsyncProducer(brokers, config)
	if err != nil {
		return fmt.Errorf("connecting the producer: %w", err)
	}

	var failures []error
	// Every message's outcome (ack or error), so the producer is closed only once none is in flight:
	// closing earlier turns a message that is being retried (after a retriable error) into
	// ErrShuttingDown instead of retrying it (sarama's documented AsyncClose behaviour).
	outcomes := make(chan struct{}, 1<<16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		successes, errs := producer.Successes(), producer.Errors()
		for successes != nil || errs != nil {
			select {
			case msg, ok := <-successes:
				if !ok {
					successes = nil
					continue
				}
				key, _ := msg.Key.Encode()
				value, _ := msg.Value.Encode()
				emit(map[string]any{"event": "ack", "key": string(key), "value": string(value),
					"partition": msg.Partition, "offset": msg.Offset})
				outcomes <- struct{}{}
			case perr, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				failures = append(failures, perr)
				outcomes <- struct{}{}
			}
		}
	}()

	scanner := bufio.NewScanner(input)
	sent := 0
	for scanner.Scan() {
		key, value, found := strings.Cut(scanner.Text(), ":")
		if !found {
			return fmt.Errorf("input line %d has no ':' between key and value", sent+1)
		}
		producer.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.StringEncoder(value)}
		sent++
	}
	if err := scanner.Err(); err != nil {
		return fmt.Errorf("reading input: %w", err)
	}
	for i := 0; i < sent; i++ {
		<-outcomes
	}
	producer.AsyncClose()
	<-done
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d records failed, first: %w", len(failures), sent, failures[0])
	}
	return nil
}

type handler struct {
	member string
	topic  string
}

func (h handler) Setup(session sarama.ConsumerGroupSession) error {
	partitions := session.Claims()[h.topic]
	if partitions == nil {
		partitions = []int32{}
	}
	emit(map[string]any{"event": "assigned", "member": h.member, "generation": session.GenerationID(), "partitions": partitions})
	return nil
}

// Cleanup runs when the session ends (a rebalance or shutdown), before the member rejoins or
// leaves: committing here hands the next owner of each partition the exact position.
func (h handler) Cleanup(session sarama.ConsumerGroupSession) error {
	session.Commit()
	return nil
}

func (h handler) ConsumeClaim(session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			emit(map[string]any{"event": "record", "member": h.member, "partition": msg.Partition,
				"offset": msg.Offset, "key": string(msg.Key), "value": string(msg.Value)})
			session.MarkMessage(msg, "")
		case <-session.Context().Done():
			return nil
		}
	}
}

func runMember(brokers []string, topic, group, member string, timeout time.Duration) error {
	config := newConfig()
	config.Consumer.Offsets.Initial = sarama.OffsetOldest
	config.Consumer.Return.Errors = true
	consumerGroup, err := sarama.NewConsumerGroup(brokers, group, config)
	if err != nil {
		return fmt.Errorf("creating the consumer group: %w", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		// Standard input closing is the signal to stop.
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	go func() {
		for err := range consumerGroup.Errors() {
			emit(map[string]any{"event": "error", "member": member, "message": err.Error()})
		}
	}()

	var consumeErr error
	for ctx.Err() == nil {
		if err := consumerGroup.Consume(ctx, []string{topic}, handler{member: member, topic: topic}); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				break
			}
			consumeErr = err
			break
		}
	}
	timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
	if err := consumerGroup.Close(); err != nil && consumeErr == nil {
		consumeErr = err
	}
	if consumeErr != nil {
		return fmt.Errorf("consuming: %w", consumeErr)
	}
	if timedOut {
		return fmt.Errorf("member %s timed out after %s", member, timeout)
	}
	emit(map[string]any{"event": "closed", "member": member})
	return nil
}
