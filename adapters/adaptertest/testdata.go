package adaptertest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// ReadTestdata returns the file name of the calling package's testdata folder (the recorded
// provider payloads).
func ReadTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// JSONEqual fails t unless got and want are the same JSON value (key order and spacing aside),
// printing both indented when they differ.
func JSONEqual(t testing.TB, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want invalid JSON: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		gi, _ := json.MarshalIndent(g, "", "  ")
		wi, _ := json.MarshalIndent(w, "", "  ")
		t.Fatalf("request JSON differs\ngot:  %s\nwant: %s", gi, wi)
	}
}
