package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	var out bytes.Buffer
	if err := dispatch(t.Context(), []string{"config", "check", "--config", "../../switchyard.example.yaml"}, &out, &out); err != nil {
		t.Fatalf("example config: %v", err)
	}
	if !strings.Contains(out.String(), "ok (2 providers, 4 models") {
		t.Errorf("unexpected output: %s", out.String())
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("kafka: {partitions: 0, brokers: [nope]}\nproviders: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := dispatch(t.Context(), []string{"config", "check", "--config", bad}, &out, &out)
	if err == nil {
		t.Fatal("want an error for an invalid config")
	}
	for _, want := range []string{`kafka.brokers[0]: "nope" is not host:port`, "providers: at least one provider", "routing.default.model: required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
