package analytics

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestBatchOffsets(t *testing.T) {
	var b batch
	if !b.empty() {
		t.Fatal("zero batch not empty")
	}
	for _, r := range []*kgo.Record{
		{Topic: "r", Partition: 0, Offset: 7, LeaderEpoch: 1, Value: []byte("abc")},
		{Topic: "r", Partition: 0, Offset: 5, LeaderEpoch: 1}, // out of order: must not rewind
		{Topic: "r", Partition: 1, Offset: 0, LeaderEpoch: 2, Key: []byte("k")},
		{Topic: "a", Partition: 3, Offset: 41, LeaderEpoch: 0},
	} {
		b.track(r)
	}
	want := map[string]map[int32]kgo.EpochOffset{
		"r": {0: {Epoch: 1, Offset: 8}, 1: {Epoch: 2, Offset: 1}},
		"a": {3: {Epoch: 0, Offset: 42}},
	}
	if !reflect.DeepEqual(b.offsets, want) || b.bytes != 4 || b.empty() {
		t.Fatalf("after track: offsets %v bytes %d", b.offsets, b.bytes)
	}

	b.requests = append(b.requests, RequestRow{RequestID: "x"})
	b.forget(map[string][]int32{"r": {0}, "a": {3}})
	want = map[string]map[int32]kgo.EpochOffset{"r": {1: {Epoch: 2, Offset: 1}}}
	if !reflect.DeepEqual(b.offsets, want) {
		t.Fatalf("after forget: %v, want %v", b.offsets, want)
	}
	if len(b.requests) != 1 {
		t.Fatal("forget dropped rows; they must stay (inserting them is a harmless duplicate)")
	}

	b.inserted[tableRequests] = true
	b.reset()
	if !b.empty() || b.offsets != nil || b.bytes != 0 || len(b.requests) != 0 || b.inserted[tableRequests] {
		t.Fatalf("after reset: %+v", b)
	}
}
