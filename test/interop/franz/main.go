// The admin and client steps of differential.test.ts with franz-go (kgo for produce and the consumer
// group, kadm for the admin API), against one server:
//
//	franz-interop BOOTSTRAP TOPIC GROUP
//
// Prints one JSON line per step, {"step": ..., "result": ...}, in a fixed order, holding only what
// does not depend on the server's identity or timing (no ids, hosts or member ids; lists sorted;
// errors as Kafka error code names), so that the test can compare a Spool agent with Apache Kafka.
// A step that fails prints its error as its result and the steps after it still run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The 9 keyed records (murmur2 over 3 partitions: alice, bob, grace → 0; dave, frank, heidi → 1;
// carol, erin, ivan → 2), each with its own CreateTime: baseMs + i seconds.
var records = [][2]string{
	{"alice", "a1"}, {"bob", "b1"}, {"carol", "c1"}, {"dave", "d1"}, {"erin", "e1"},
	{"frank", "f1"}, {"grace", "g1"}, {"heidi", "h1"}, {"ivan", "i1"},
}

const baseMs = int64(1_700_000_000_000)

func emit(step string, result any) {
	line, _ := json.Marshal(map[string]any{"step": step, "result": result})
	fmt.Println(string(line))
}

// code is an error as the name of its Kafka error code ("" for none); other errors as their text.
func code(err error) string {
	if err == nil {
		return ""
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: franz-interop BOOTSTRAP TOPIC GROUP")
		os.Exit(2)
	}
	bootstrap, topic, group := os.Args[1], os.Args[2], os.Args[3]
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	client, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.RequestRetries(2))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer client.Close()
	admin := kadm.NewClient(client)
	step := func(ctx context.Context, name string, run func(context.Context) (any, error)) {
		stepCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		result, err := run(stepCtx)
		if err != nil {
			emit(name, map[string]string{"failed": code(err)})
			return
		}
		emit(name, result)
	}
	str := func(s string) *string { return &s }

	create := func(ctx context.Context) (any, error) {
		configs := map[string]*string{"retention.ms": str("86400000"), "cleanup.policy": str("delete")}
		created, err := admin.CreateTopics(ctx, 2, 1, configs, topic)
		if err != nil {
			return nil, err
		}
		response := created[topic]
		return map[string]any{"error": code(response.Err), "partitions": response.NumPartitions}, nil
	}
	step(ctx, "create", create)
	step(ctx, "create-existing", create)
	setPartitions := func(count int) func(context.Context) (any, error) {
		return func(ctx context.Context) (any, error) {
			updated, err := admin.UpdatePartitions(ctx, count, topic)
			if err != nil {
				return nil, err
			}
			return map[string]string{"error": code(updated[topic].Err)}, nil
		}
	}
	step(ctx, "create-partitions", setPartitions(3))
	step(ctx, "create-partitions-fewer", setPartitions(2))
	alter := func(configs ...kadm.AlterConfig) func(context.Context) (any, error) {
		return func(ctx context.Context) (any, error) {
			altered, err := admin.AlterTopicConfigs(ctx, configs, topic)
			if err != nil {
				return nil, err
			}
			return map[string]string{"error": code(altered[0].Err)}, nil
		}
	}
	step(ctx, "alter-configs", alter(
		kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: str("3600000")},
		kadm.AlterConfig{Op: kadm.SetConfig, Name: "max.message.bytes", Value: str("2000000")},
		kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "cleanup.policy"},
	))
	step(ctx, "alter-configs-invalid", alter(kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: str("soon")}))
	step(ctx, "describe-configs", func(ctx context.Context) (any, error) {
		described, err := admin.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			return nil, err
		}
		// The topic's own configs, and the values and sources of the ones the steps touched.
		dynamic := []string{}
		watched := map[string]string{}
		for _, config := range described[0].Configs {
			value := config.MaybeValue()
			if config.Source == kmsg.ConfigSourceDynamicTopicConfig {
				dynamic = append(dynamic, config.Key+"="+value)
			}
			switch config.Key {
			case "retention.ms", "cleanup.policy", "max.message.bytes", "segment.bytes":
				watched[config.Key] = value + " (" + config.Source.String() + ")"
			}
		}
		sort.Strings(dynamic)
		return map[string]any{"error": code(described[0].Err), "dynamic": dynamic, "watched": watched}, nil
	})
	step(ctx, "describe-configs-unknown", func(ctx context.Context) (any, error) {
		described, err := admin.DescribeTopicConfigs(ctx, topic+"-unknown")
		if err != nil {
			return nil, err
		}
		return map[string]any{"error": code(described[0].Err), "configs": len(described[0].Configs)}, nil
	})

	step(ctx, "produce", func(ctx context.Context) (any, error) {
		producer, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.RequiredAcks(kgo.AllISRAcks()))
		if err != nil {
			return nil, err
		}
		defer producer.Close()
		acks := [][]any{}
		for i, kv := range records {
			record := &kgo.Record{Topic: topic, Key: []byte(kv[0]), Value: []byte(kv[1]), Timestamp: time.UnixMilli(baseMs + int64(i)*1000)}
			produced, err := producer.ProduceSync(ctx, record).First()
			if err != nil {
				return nil, err
			}
			acks = append(acks, []any{kv[0], produced.Partition, produced.Offset})
		}
		return sorted(acks), nil
	})
	step(ctx, "consume", func(ctx context.Context) (any, error) {
		consumer, err := kgo.NewClient(
			kgo.SeedBrokers(bootstrap),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.DisableAutoCommit(),
		)
		if err != nil {
			return nil, err
		}
		consumed := [][]any{}
		for len(consumed) < len(records) && ctx.Err() == nil {
			fetches := consumer.PollFetches(ctx)
			fetches.EachRecord(func(r *kgo.Record) {
				consumed = append(consumed, []any{r.Partition, r.Offset, string(r.Key), string(r.Value), r.Timestamp.UnixMilli() - baseMs})
			})
		}
		commitErr := consumer.CommitUncommittedOffsets(ctx)
		consumer.Close() // leaves the group
		if commitErr != nil {
			return nil, commitErr
		}
		return sorted(consumed), nil
	})
	step(ctx, "list-groups", func(ctx context.Context) (any, error) {
		listed, err := admin.ListGroups(ctx)
		if err != nil {
			return nil, err
		}
		g, ok := listed[group]
		return map[string]any{"listed": ok, "state": g.State, "protocolType": g.ProtocolType}, nil
	})
	step(ctx, "list-groups-empty", func(ctx context.Context) (any, error) {
		listed, err := admin.ListGroups(ctx, "Empty")
		if err != nil {
			return nil, err
		}
		_, listedEmpty := listed[group]
		stable, err := admin.ListGroups(ctx, "Stable")
		if err != nil {
			return nil, err
		}
		_, listedStable := stable[group]
		return map[string]any{"empty": listedEmpty, "stable": listedStable}, nil
	})
	step(ctx, "describe-groups", func(ctx context.Context) (any, error) {
		described, err := admin.DescribeGroups(ctx, group)
		if err != nil {
			return nil, err
		}
		g := described[group]
		return map[string]any{
			"error": code(g.Err), "state": g.State, "protocolType": g.ProtocolType, "protocol": g.Protocol, "members": len(g.Members),
		}, nil
	})
	step(ctx, "lag", func(ctx context.Context) (any, error) {
		lags, err := admin.Lag(ctx, group)
		if err != nil {
			return nil, err
		}
		g := lags[group]
		rows := [][]any{}
		for _, l := range g.Lag.Sorted() {
			rows = append(rows, []any{l.Topic == topic, l.Partition, l.Commit.At, l.End.Offset, l.Lag, code(l.Err)})
		}
		return map[string]any{"state": g.State, "describeError": code(g.DescribeErr), "fetchError": code(g.FetchErr), "lag": rows}, nil
	})
	committed := func(ctx context.Context) (any, error) {
		offsets, err := admin.FetchOffsets(ctx, group)
		if err != nil {
			return nil, err
		}
		rows := [][]any{}
		offsets.Each(func(o kadm.OffsetResponse) {
			rows = append(rows, []any{o.Topic == topic, o.Partition, o.At, code(o.Err)})
		})
		return sorted(rows), nil
	}
	step(ctx, "committed", committed)
	step(ctx, "delete-offsets", func(ctx context.Context) (any, error) {
		deleted, err := admin.DeleteOffsets(ctx, group, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			return nil, err
		}
		result, _ := deleted.Lookup(topic, 0)
		return map[string]string{"error": code(result)}, nil
	})
	step(ctx, "committed-after-delete-offsets", committed)
	step(ctx, "delete-records", func(ctx context.Context) (any, error) {
		offsets := kadm.Offsets{}
		offsets.AddOffset(topic, 0, 1, -1)
		offsets.AddOffset(topic, 1, 3, -1)
		deleted, err := admin.DeleteRecords(ctx, offsets)
		if err != nil {
			return nil, err
		}
		rows := [][]any{}
		deleted.Each(func(r kadm.DeleteRecordsResponse) {
			rows = append(rows, []any{r.Partition, r.LowWatermark, code(r.Err)})
		})
		return sorted(rows), nil
	})
	step(ctx, "delete-records-beyond-end", func(ctx context.Context) (any, error) {
		offsets := kadm.Offsets{}
		offsets.AddOffset(topic, 2, 10, -1)
		deleted, err := admin.DeleteRecords(ctx, offsets)
		if err != nil {
			return nil, err
		}
		rows := [][]any{}
		deleted.Each(func(r kadm.DeleteRecordsResponse) { rows = append(rows, []any{r.Partition, code(r.Err)}) })
		return rows, nil
	})
	listed := func(list func(context.Context) (kadm.ListedOffsets, error)) func(context.Context) (any, error) {
		return func(ctx context.Context) (any, error) {
			offsets, err := list(ctx)
			if err != nil {
				return nil, err
			}
			rows := [][]any{}
			offsets.Each(func(o kadm.ListedOffset) {
				timestamp := o.Timestamp
				if timestamp >= baseMs {
					timestamp -= baseMs
				}
				rows = append(rows, []any{o.Partition, o.Offset, timestamp, code(o.Err)})
			})
			return sorted(rows), nil
		}
	}
	step(ctx, "list-offsets-start", listed(func(ctx context.Context) (kadm.ListedOffsets, error) { return admin.ListStartOffsets(ctx, topic) }))
	step(ctx, "list-offsets-end", listed(func(ctx context.Context) (kadm.ListedOffsets, error) { return admin.ListEndOffsets(ctx, topic) }))
	step(ctx, "list-offsets-time", listed(func(ctx context.Context) (kadm.ListedOffsets, error) {
		return admin.ListOffsetsAfterMilli(ctx, baseMs+4000, topic)
	}))
	step(ctx, "list-offsets-time-future", listed(func(ctx context.Context) (kadm.ListedOffsets, error) {
		return admin.ListOffsetsAfterMilli(ctx, baseMs+100_000, topic)
	}))
	deleteGroup := func(ctx context.Context) (any, error) {
		deleted, err := admin.DeleteGroups(ctx, group)
		if err != nil {
			return nil, err
		}
		return map[string]string{"error": code(deleted[group].Err)}, nil
	}
	step(ctx, "delete-groups", deleteGroup)
	step(ctx, "delete-groups-again", deleteGroup)
	deleteTopic := func(ctx context.Context) (any, error) {
		deleted, err := admin.DeleteTopics(ctx, topic)
		if err != nil {
			return nil, err
		}
		return map[string]string{"error": code(deleted[topic].Err)}, nil
	}
	step(ctx, "delete-topics", deleteTopic)
	step(ctx, "delete-topics-again", deleteTopic)
}

// sorted orders rows by their JSON form, so that the order in which a server answers does not matter.
func sorted(rows [][]any) [][]any {
	key := func(row []any) string {
		text, _ := json.Marshal(row)
		return string(text)
	}
	sort.Slice(rows, func(i, j int) bool { return key(rows[i]) < key(rows[j]) })
	return rows
}
