package adapters

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Redacted is what a Secret prints as, in every format.
const Redacted = "[REDACTED]"

// Secret holds an API key. Every way of printing or encoding it (fmt verbs including %#v and %x,
// JSON, text, slog) yields Redacted; only Reveal returns the value, and adapters call it solely to
// build the authentication header.
//
// Decoding into a Secret (JSON, YAML) works as for a plain string.
//
// One hole remains that no method can close: fmt prints an unexported struct field without
// calling its methods, so a type that keeps a Secret in an unexported field must implement
// fmt.Formatter itself (as the adapters do) or keep it behind a pointer.
type Secret string

// Reveal returns the key. Use it only where the key leaves the process: the auth header.
func (s Secret) Reveal() string { return string(s) }

// IsZero reports whether no key is set.
func (s Secret) IsZero() bool { return s == "" }

// String implements fmt.Stringer.
func (Secret) String() string { return Redacted }

// GoString implements fmt.GoStringer.
func (Secret) GoString() string { return Redacted }

// Format implements fmt.Formatter so that no verb (%d, %x, %q, ...) prints the value, including
// when a Secret is a field of a struct being printed.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, Redacted) }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (YAML, TOML, slog's text form of maps).
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// SecretFromEnv reads the key from the environment variable name; unset or blank is an error.
func SecretFromEnv(name string) (Secret, error) {
	v, ok := os.LookupEnv(name)
	if !ok {
		return "", fmt.Errorf("adapters: environment variable %s is not set", name)
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("adapters: environment variable %s is empty", name)
	}
	return Secret(v), nil
}

// maxSecretFile bounds what SecretFromFile reads: a key file is tiny, and a wrong path must not
// load a large file into memory.
const maxSecretFile = 64 << 10

// SecretFromFile reads the key from a file (for example a mounted Kubernetes secret), trimming
// surrounding whitespace. An empty file, a file with several lines, or one over 64 KiB is an
// error. Errors name the path, never the content.
func SecretFromFile(path string) (Secret, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("adapters: secret file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("adapters: secret file %s: %w", path, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("adapters: secret file %s is larger than %d bytes", path, maxSecretFile)
	}
	v := strings.TrimSpace(string(b))
	switch {
	case v == "":
		return "", fmt.Errorf("adapters: secret file %s is empty", path)
	case strings.ContainsAny(v, "\r\n"):
		return "", errors.New("adapters: secret file " + path + " has more than one line")
	}
	return Secret(v), nil
}
