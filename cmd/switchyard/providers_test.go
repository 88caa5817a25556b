package main

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/switchyard-llm/switchyard/adapters"
	"github.com/switchyard-llm/switchyard/internal/config"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the generated parts of docs/")

// generatedSection is a part of a doc rewritten from code, between two markers.
type generatedSection struct {
	name string
	body func() (string, error)
}

func docSections() []generatedSection {
	return []generatedSection{
		{"capability-matrix", capabilityMatrix},
		{"sim-faults", func() (string, error) { return simFaultTable(), nil }},
	}
}

// The generated parts of docs/providers.md are what the code declares.
func TestProvidersDocIsCurrent(t *testing.T) {
	const path = "../../docs/providers.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	want := doc
	for _, sec := range docSections() {
		begin := "<!-- " + sec.name + ":begin (generated; go test ./cmd/switchyard -run TestProvidersDoc -update-docs) -->\n"
		end := "<!-- " + sec.name + ":end -->"
		body, err := sec.body()
		if err != nil {
			t.Fatal(err)
		}
		i, j := strings.Index(want, begin), strings.Index(want, end)
		if i < 0 || j < i {
			t.Fatalf("%s lacks the %s markers", path, sec.name)
		}
		want = want[:i] + begin + body + want[j:]
	}
	if want == doc {
		return
	}
	if *updateDocs {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is stale: run go test ./cmd/switchyard -run TestProvidersDoc -update-docs", path)
}

// Every configurable kind builds an adapter, and each declares its wire format's basics.
func TestEveryProviderKindBuilds(t *testing.T) {
	for _, kind := range config.ProviderKinds {
		a, err := buildAdapter(config.Provider{Name: "p", Kind: kind, BaseURL: placeholderBaseURL(kind)}, nil)
		if err != nil {
			t.Errorf("%s: %v", kind, err)
			continue
		}
		if a.Name() != "p" {
			t.Errorf("%s: name %q", kind, a.Name())
		}
		if _, ok := a.(adapters.Streamer); !ok || !a.Capabilities().Streaming || !a.Capabilities().Tools {
			t.Errorf("%s: capabilities %+v", kind, a.Capabilities())
		}
	}
	if _, err := buildAdapter(config.Provider{Name: "p", Kind: "nope"}, nil); err == nil {
		t.Error("unknown kind built")
	}
}
