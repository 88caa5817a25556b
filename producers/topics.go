package producers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TopicSpec describes a topic that [EnsureTopics] creates when missing.
type TopicSpec struct {
	// Name is the topic name. Required.
	Name string
	// Partitions is the partition count to create with and the minimum an
	// existing topic must have. Default (0 or less): the broker's default
	// (num.partitions); an existing topic is then not checked.
	Partitions int32
	// ReplicationFactor is the replication factor to create with. Default
	// (0 or less): the broker's default (default.replication.factor).
	// Existing topics are not checked against it.
	ReplicationFactor int16
	// Configs are topic configs to create with, e.g.
	// {"cleanup.policy": "compact"} for llm.provider.health. Default: none.
	// For an existing topic each listed config is compared with the
	// broker's value; a difference is reported, never altered.
	Configs map[string]string
}

// ErrTopicMismatch marks an existing topic that differs from its spec (fewer
// partitions, or a different config value). EnsureTopics reports it but never
// alters the topic; callers may treat it as a warning with
// errors.Is(err, ErrTopicMismatch).
var ErrTopicMismatch = errors.New("existing topic differs from spec")

// EnsureTopics creates the topics in specs that do not exist yet and checks
// the ones that do. It is idempotent and safe to run concurrently from many
// processes: a TOPIC_ALREADY_EXISTS answer (another process won the race) is
// treated as "exists" and the topic is checked instead.
//
// An existing topic with fewer partitions than its spec, or with a config
// value different from its spec, is reported with an error wrapping
// [ErrTopicMismatch]; it is never altered (adding partitions remaps keys to
// partitions, which is an operator's decision). All problems are returned
// together with errors.Join.
func EnsureTopics(ctx context.Context, adm *kadm.Client, specs ...TopicSpec) error {
	if adm == nil {
		return errors.New("producers: nil admin client")
	}
	if len(specs) == 0 {
		return nil
	}
	var errs []error
	names := make([]string, 0, len(specs))
	seen := make(map[string]bool, len(specs))
	for i, s := range specs {
		switch {
		case s.Name == "":
			errs = append(errs, fmt.Errorf("topic spec %d: empty name", i))
		case seen[s.Name]:
			errs = append(errs, fmt.Errorf("topic spec %d: duplicate topic %q", i, s.Name))
		default:
			seen[s.Name] = true
			names = append(names, s.Name)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	details, err := adm.ListTopics(freshMetadata(ctx), names...)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}

	var existing []TopicSpec
	var fresh []string
	for _, s := range specs {
		d, ok := details[s.Name]
		switch {
		case ok && d.Err == nil:
			existing = append(existing, s)
			continue
		case ok && !errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			errs = append(errs, fmt.Errorf("topic %q: metadata: %w", s.Name, d.Err))
			continue
		}
		created, err := createTopic(ctx, adm, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !created { // someone else created it between our list and create
			existing = append(existing, s)
			continue
		}
		fresh = append(fresh, s.Name)
	}
	if len(existing) > 0 {
		errs = append(errs, checkExisting(ctx, adm, existing)...)
	}
	if len(fresh) > 0 {
		// A topic is usable once the brokers' metadata knows it, a moment after the
		// controller created it: consumers that start right away would otherwise see
		// UNKNOWN_TOPIC_OR_PARTITION.
		if err := waitVisible(ctx, adm, fresh); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// waitVisible returns once every topic is in the brokers' metadata, or an error after five seconds.
func waitVisible(ctx context.Context, adm *kadm.Client, names []string) error {
	details, err := listUntilKnown(ctx, adm, names)
	if err != nil {
		return err
	}
	if anyUnknown(details, names) {
		return fmt.Errorf("created topics not yet in the brokers' metadata after 5s: %v", names)
	}
	return nil
}

// listUntilKnown lists the topics' metadata, asking again every 250 ms for up to five seconds
// while one of them is unknown: a topic just created reaches the answering broker's metadata a
// moment after the controller created it. It returns the last listing.
func listUntilKnown(ctx context.Context, adm *kadm.Client, names []string) (kadm.TopicDetails, error) {
	for try := 0; ; try++ {
		details, err := adm.ListTopics(freshMetadata(ctx), names...)
		if err != nil {
			return nil, fmt.Errorf("list topics: %w", err)
		}
		if try >= 20 || !anyUnknown(details, names) {
			return details, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// createTopic creates one topic; it reports created=false, err=nil when the
// topic already exists.
func createTopic(ctx context.Context, adm *kadm.Client, s TopicSpec) (created bool, err error) {
	partitions, rf := s.Partitions, s.ReplicationFactor
	if partitions <= 0 {
		partitions = -1
	}
	if rf <= 0 {
		rf = -1
	}
	var configs map[string]*string
	if len(s.Configs) > 0 {
		configs = make(map[string]*string, len(s.Configs))
		for k, v := range s.Configs {
			configs[k] = kadm.StringPtr(v)
		}
	}
	resp, err := adm.CreateTopic(ctx, partitions, rf, configs, s.Name)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		return false, nil
	case resp.ErrMessage != "":
		return false, fmt.Errorf("create topic %q: %w: %s", s.Name, err, resp.ErrMessage)
	default:
		return false, fmt.Errorf("create topic %q: %w", s.Name, err)
	}
}

// anyUnknown reports whether a topic is missing from details or unknown to the broker.
func anyUnknown(details kadm.TopicDetails, names []string) bool {
	for _, n := range names {
		if d, ok := details[n]; !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			return true
		}
	}
	return false
}

// checkExisting compares existing topics with their specs.
func checkExisting(ctx context.Context, adm *kadm.Client, specs []TopicSpec) []error {
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		names = append(names, s.Name)
	}
	// Re-list: a topic created concurrently by another process was not in
	// the first listing, and may not yet be known to the answering broker.
	details, err := listUntilKnown(ctx, adm, names)
	if err != nil {
		return []error{err}
	}
	var errs []error
	var withConfigs []string
	for _, s := range specs {
		d, ok := details[s.Name]
		if !ok || d.Err != nil {
			e := error(kerr.UnknownTopicOrPartition)
			if ok {
				e = d.Err
			}
			errs = append(errs, fmt.Errorf("topic %q: metadata: %w", s.Name, e))
			continue
		}
		if have := int32(len(d.Partitions)); s.Partitions > 0 && have < s.Partitions {
			errs = append(errs, fmt.Errorf("%w: topic %q has %d partitions, spec wants at least %d",
				ErrTopicMismatch, s.Name, have, s.Partitions))
		}
		if len(s.Configs) > 0 {
			withConfigs = append(withConfigs, s.Name)
		}
	}
	if len(withConfigs) == 0 {
		return errs
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, withConfigs...)
	if err != nil {
		return append(errs, fmt.Errorf("describe topic configs: %w", err))
	}
	byName := make(map[string]kadm.ResourceConfig, len(rcs))
	for _, rc := range rcs {
		byName[rc.Name] = rc
	}
	for _, s := range specs {
		if len(s.Configs) == 0 {
			continue
		}
		rc, ok := byName[s.Name]
		if !ok || rc.Err != nil {
			e := errors.New("missing from response")
			if ok {
				e = rc.Err
			}
			errs = append(errs, fmt.Errorf("topic %q: describe configs: %w", s.Name, e))
			continue
		}
		have := make(map[string]string, len(rc.Configs))
		for _, c := range rc.Configs {
			have[c.Key] = c.MaybeValue()
		}
		for _, k := range slices.Sorted(maps.Keys(s.Configs)) {
			if got, ok := have[k]; !ok || got != s.Configs[k] {
				errs = append(errs, fmt.Errorf("%w: topic %q config %s=%q, spec wants %q",
					ErrTopicMismatch, s.Name, k, got, s.Configs[k]))
			}
		}
	}
	return errs
}

// freshMetadata makes kadm bypass franz-go's metadata cache. kadm serves
// ListTopics from a cache that keeps answers, including "unknown topic", for
// the client's metadata min age (5 s by default): a topic created a moment ago
// by us or by another process would look missing. Asking for authorized
// operations (KIP-430) is the documented way to force a direct request.
func freshMetadata(ctx context.Context) context.Context {
	return kadm.WithAuthorizedOps(ctx)
}
