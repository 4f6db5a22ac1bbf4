package main

// The `admin` command: differential.test.ts's admin steps with sarama's ClusterAdmin, against one
// server, with a sarama producer and consumer group to give the group steps a group:
//
//	sarama-interop admin --bootstrap HOST:PORT --topic T --group G
//
// Prints one JSON line per step, {"step": ..., "result": ...}, in a fixed order, holding only what
// does not depend on the server's identity or timing (lists sorted; errors as sarama's text for
// their Kafka error code), so that the test can compare a Spool agent with Apache Kafka. A failed
// step prints its error as its result and the steps after it still run. Speaks protocol version
// 3.9 (adminVersion), the same requests to every server.

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

var adminVersion = sarama.V3_9_0_0

// The 9 keyed records, each to the partition Java's murmur2 partitioner picks over 3 partitions,
// each with its own CreateTime: adminBaseMs + i seconds.
var adminRecords = []struct {
	key, value string
	partition  int32
}{
	{"alice", "a1", 0}, {"bob", "b1", 0}, {"carol", "c1", 2}, {"dave", "d1", 1}, {"erin", "e1", 2},
	{"frank", "f1", 1}, {"grace", "g1", 0}, {"heidi", "h1", 1}, {"ivan", "i1", 2},
}

const adminBaseMs = int64(1_700_000_000_000)

// errorCode is an error as sarama's text for its Kafka error code ("" for none); other errors as their text.
func errorCode(err error) string {
	if err == nil || errors.Is(err, sarama.ErrNoError) {
		return ""
	}
	var kafkaError sarama.KError
	if errors.As(err, &kafkaError) {
		return strings.TrimPrefix(kafkaError.Error(), "kafka server: ")
	}
	return err.Error()
}

func sortedRows(rows [][]any) [][]any {
	key := func(row []any) string {
		text, _ := json.Marshal(row)
		return string(text)
	}
	sort.Slice(rows, func(i, j int) bool { return key(rows[i]) < key(rows[j]) })
	return rows
}

func adminConfig() *sarama.Config {
	config := sarama.NewConfig()
	config.Version = adminVersion
	config.ClientID = "interop-sarama-admin"
	config.Admin.Timeout = 30 * time.Second
	config.Metadata.Retry.Max = 2
	return config
}

func runAdmin(brokers []string, topic, group string) error {
	admin, err := sarama.NewClusterAdmin(brokers, adminConfig())
	if err != nil {
		return err
	}
	defer admin.Close()
	step := func(name string, run func() (any, error)) {
		result, err := run()
		if err != nil {
			result = map[string]string{"failed": errorCode(err)}
		}
		emit(map[string]any{"step": name, "result": result})
	}
	str := func(s string) *string { return &s }
	errorOnly := func(err error) (any, error) { return map[string]string{"error": errorCode(err)}, nil }
	resource := sarama.ConfigResource{Type: sarama.TopicResource, Name: topic}

	create := func() (any, error) {
		detail := &sarama.TopicDetail{
			NumPartitions: 2, ReplicationFactor: 1,
			ConfigEntries: map[string]*string{"retention.ms": str("86400000"), "cleanup.policy": str("delete")},
		}
		return errorOnly(admin.CreateTopic(topic, detail, false))
	}
	step("create", create)
	step("create-existing", create)
	step("create-partitions", func() (any, error) { return errorOnly(admin.CreatePartitions(topic, 3, nil, false)) })
	step("create-partitions-fewer", func() (any, error) { return errorOnly(admin.CreatePartitions(topic, 2, nil, false)) })
	step("alter-configs", func() (any, error) {
		return errorOnly(admin.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
			"retention.ms":      {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: str("3600000")},
			"max.message.bytes": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: str("2000000")},
			"cleanup.policy":    {Operation: sarama.IncrementalAlterConfigsOperationDelete},
		}, false))
	})
	step("alter-configs-invalid", func() (any, error) {
		return errorOnly(admin.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
			"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: str("soon")},
		}, false))
	})
	describe := func() (any, error) {
		entries, err := admin.DescribeConfig(resource)
		if err != nil {
			return nil, err
		}
		dynamic := []string{}
		watched := map[string]string{}
		for _, entry := range entries {
			if entry.Source == sarama.SourceTopic {
				dynamic = append(dynamic, entry.Name+"="+entry.Value)
			}
			switch entry.Name {
			case "retention.ms", "cleanup.policy", "max.message.bytes", "segment.bytes":
				watched[entry.Name] = entry.Value + " (" + entry.Source.String() + ")"
			}
		}
		sort.Strings(dynamic)
		return map[string]any{"dynamic": dynamic, "watched": watched}, nil
	}
	var beforeLegacy any
	step("describe-configs", func() (any, error) {
		described, err := describe()
		beforeLegacy = described
		return described, err
	})
	// The legacy (whole-set) AlterConfigs: the topic's configs become exactly these.
	step("alter-configs-legacy", func() (any, error) {
		return errorOnly(admin.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.ms": str("7200000")}, false))
	})
	// Kafka serves DescribeConfigs from its broker's metadata image, which follows the controller's
	// change a moment later: as a user would, ask again (up to 5 s) while it shows the configs as before.
	step("describe-configs-after-legacy", func() (any, error) {
		now, err := describe()
		for i := 0; err == nil && i < 50 && reflect.DeepEqual(now, beforeLegacy); i++ {
			time.Sleep(100 * time.Millisecond)
			now, err = describe()
		}
		return now, err
	})
	step("describe-configs-unknown", func() (any, error) {
		entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic + "-unknown"})
		return map[string]any{"error": errorCode(err), "configs": len(entries)}, nil
	})

	step("produce", func() (any, error) { return adminProduce(brokers, topic) })
	step("consume", func() (any, error) { return adminConsume(brokers, topic, group) })
	step("list-groups", func() (any, error) {
		groups, err := admin.ListConsumerGroups()
		if err != nil {
			return nil, err
		}
		protocolType, listed := groups[group]
		return map[string]any{"listed": listed, "protocolType": protocolType}, nil
	})
	step("describe-groups", func() (any, error) {
		described, err := admin.DescribeConsumerGroups([]string{group})
		if err != nil {
			return nil, err
		}
		g := described[0]
		return map[string]any{
			"error": errorCode(g.Err), "state": g.State, "protocolType": g.ProtocolType, "protocol": g.Protocol, "members": len(g.Members),
		}, nil
	})
	committed := func() (any, error) {
		offsets, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2}})
		if err != nil {
			return nil, err
		}
		rows := [][]any{}
		for partition, block := range offsets.Blocks[topic] {
			rows = append(rows, []any{partition, block.Offset, errorCode(block.Err)})
		}
		return map[string]any{"error": errorCode(offsets.Err), "offsets": sortedRows(rows)}, nil
	}
	step("committed", committed)
	step("delete-offsets", func() (any, error) { return errorOnly(admin.DeleteConsumerGroupOffset(group, topic, 0)) })
	step("committed-after-delete-offsets", committed)
	step("delete-records", func() (any, error) { return errorOnly(admin.DeleteRecords(topic, map[int32]int64{0: 1, 1: 3})) })
	step("delete-records-beyond-end", func() (any, error) { return errorOnly(admin.DeleteRecords(topic, map[int32]int64{2: 10})) })
	step("list-offsets", func() (any, error) { return adminListOffsets(brokers, topic) })
	step("delete-groups", func() (any, error) { return errorOnly(admin.DeleteConsumerGroup(group)) })
	step("delete-groups-again", func() (any, error) { return errorOnly(admin.DeleteConsumerGroup(group)) })
	step("delete-topics", func() (any, error) { return errorOnly(admin.DeleteTopic(topic)) })
	step("delete-topics-again", func() (any, error) { return errorOnly(admin.DeleteTopic(topic)) })
	return nil
}

func adminProduce(brokers []string, topic string) (any, error) {
	config := adminConfig()
	config.Producer.Return.Successes = true
	config.Producer.RequiredAcks = sarama.WaitForAll
	config.Producer.Partitioner = sarama.NewManualPartitioner
	producer, err := sarama.NewSyncProducer(brokers, config)
	if err != nil {
		return nil, err
	}
	defer producer.Close()
	acks := [][]any{}
	for i, record := range adminRecords {
		message := &sarama.ProducerMessage{
			Topic: topic, Partition: record.partition, Key: sarama.StringEncoder(record.key), Value: sarama.StringEncoder(record.value),
			Timestamp: time.UnixMilli(adminBaseMs + int64(i)*1000),
		}
		partition, offset, err := producer.SendMessage(message)
		if err != nil {
			return nil, err
		}
		acks = append(acks, []any{record.key, partition, offset})
	}
	return sortedRows(acks), nil
}

// collector is a consumer group handler that keeps what it consumes, marks it, and commits after each message.
type collector struct {
	mu     sync.Mutex
	rows   [][]any
	enough func()
}

func (c *collector) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (c *collector) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (c *collector) ConsumeClaim(session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for message := range claim.Messages() {
		session.MarkMessage(message, "")
		session.Commit()
		c.mu.Lock()
		c.rows = append(c.rows, []any{message.Partition, message.Offset, string(message.Key), string(message.Value),
			message.Timestamp.UnixMilli() - adminBaseMs})
		if len(c.rows) >= len(adminRecords) {
			c.enough()
		}
		c.mu.Unlock()
	}
	return nil
}

func adminConsume(brokers []string, topic, group string) (any, error) {
	config := adminConfig()
	config.Consumer.Offsets.Initial = sarama.OffsetOldest
	config.Consumer.Offsets.AutoCommit.Enable = false
	consumerGroup, err := sarama.NewConsumerGroup(brokers, group, config)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	handler := &collector{enough: cancel}
	for ctx.Err() == nil {
		if err := consumerGroup.Consume(ctx, []string{topic}, handler); err != nil && !errors.Is(err, context.Canceled) {
			break
		}
	}
	if err := consumerGroup.Close(); err != nil { // leaves the group
		return nil, err
	}
	handler.mu.Lock()
	defer handler.mu.Unlock()
	return sortedRows(handler.rows), nil
}

// adminListOffsets: the earliest, latest and by-time (adminBaseMs + 4 s) offset of each partition, with sarama's Client.GetOffset.
func adminListOffsets(brokers []string, topic string) (any, error) {
	client, err := sarama.NewClient(brokers, adminConfig())
	if err != nil {
		return nil, err
	}
	defer client.Close()
	rows := [][]any{}
	for partition := int32(0); partition < 3; partition++ {
		row := []any{partition}
		for _, at := range []int64{sarama.OffsetOldest, sarama.OffsetNewest, adminBaseMs + 4000, adminBaseMs + 100_000} {
			offset, err := client.GetOffset(topic, partition, at)
			if err != nil {
				row = append(row, errorCode(err))
			} else {
				row = append(row, offset)
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}
