package schemas

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
)

// TestSchemaCompatibility keeps the schemas evolvable: the current schemas must read data written
// with every released snapshot under compat/ (BACKWARD), and every snapshot must read data written
// with the current schemas (FORWARD: consumers one release behind keep working during a rolling
// deploy). See the package documentation for how to add a snapshot.
func TestSchemaCompatibility(t *testing.T) {
	if len(snapshots) == 0 || snapshots[0].name != "v1" {
		t.Fatalf("compat/v1 is missing: %v", snapshots)
	}
	compat := avro.NewSchemaCompatibility()
	c := mustCodec(t, CodecOptions{})
	for _, snap := range snapshots {
		for typ, v := range samples() {
			old := snap.byType[typ].schema
			t.Run(snap.name+"/"+typ.String(), func(t *testing.T) {
				if err := compat.Compatible(Schema(typ), old); err != nil {
					t.Errorf("BACKWARD: the current schema cannot read %s data: %v", snap.name, err)
				}
				if err := compat.Compatible(old, Schema(typ)); err != nil {
					t.Errorf("FORWARD: %s readers cannot read current data: %v", snap.name, err)
				}
				// And on data: a value written with the snapshot (single-object, its fingerprint)
				// decodes, and holds what the snapshot wrote.
				body, err := avro.Marshal(old, v)
				if err != nil {
					t.Fatal(err)
				}
				data := append(binary.LittleEndian.AppendUint64([]byte{0xC3, 0x01}, snap.byType[typ].fp), body...)
				got := newValue(typ)
				if err := c.Decode(typ, data, "", got); err != nil {
					t.Fatalf("decoding %s data: %v", snap.name, err)
				}
				again, err := avro.Marshal(old, got)
				if err != nil {
					t.Fatal(err)
				}
				// Compared as generic values: map entries are written in no fixed order.
				var want, have any
				if err := avro.Unmarshal(old, body, &want); err != nil {
					t.Fatal(err)
				}
				if err := avro.Unmarshal(old, again, &have); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(have, want) {
					t.Errorf("%s data did not survive:\n got %v\nwant %v", snap.name, have, want)
				}
			})
		}
	}
}

// TestSchemaCompatibilityCanFail shows that the check above catches a breaking change.
func TestSchemaCompatibilityCanFail(t *testing.T) {
	compat := avro.NewSchemaCompatibility()
	old := snapshots[0].byType[TypeRequest].schema
	for name, edit := range map[string][2]string{
		"type change":               {`"name":"tenant_id","type":"string"`, `"name":"tenant_id","type":"int"`},
		"new field without default": {`{"name":"model","doc"`, `{"name":"region","type":"string"},{"name":"model","doc"`},
		"required field removed":    {`{"name":"tenant_id","type":"string"},`, ``},
	} {
		text := SchemaJSON(TypeRequest)
		if !strings.Contains(text, edit[0]) {
			t.Fatalf("%s: schema text changed; update this test", name)
		}
		changed, err := avro.ParseWithCache(strings.Replace(text, edit[0], edit[1], 1), "", &avro.SchemaCache{})
		if err != nil {
			t.Fatal(err)
		}
		backward, forward := compat.Compatible(changed, old), compat.Compatible(old, changed)
		if backward == nil && forward == nil {
			t.Errorf("%s: not caught", name)
		}
	}
}
