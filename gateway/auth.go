package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// Key is one bearer key the gateway accepts, stored as the SHA-256 of the key: the config
// never holds a key itself, and a request's key is hashed before it is looked up.
type Key struct {
	// SHA256 is the hex SHA-256 of the key (`switchyard gateway hash-key` prints it).
	SHA256 string
	// Tenant is the tenant_id requests with this key are published under.
	Tenant string
	// Name labels the key in logs and metrics (never the key or its hash).
	Name string
}

// HashKey returns the hex SHA-256 of a bearer key, as Key.SHA256 holds it.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// keyring maps key hashes to keys.
type keyring map[[sha256.Size]byte]Key

func newKeyring(keys []Key) (keyring, error) {
	ring := make(keyring, len(keys))
	for i, k := range keys {
		raw, err := hex.DecodeString(k.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("keys[%d].sha256: not 64 hex digits", i)
		}
		if k.Tenant == "" {
			return nil, fmt.Errorf("keys[%d].tenant: required", i)
		}
		var h [sha256.Size]byte
		copy(h[:], raw)
		if _, dup := ring[h]; dup {
			return nil, fmt.Errorf("keys[%d]: the same key is listed twice", i)
		}
		ring[h] = k
	}
	return ring, nil
}

func hashOf(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

// authenticate returns the key of a request's bearer token. The lookup is by hash, so its
// timing says nothing about how close a wrong key came to a right one.
func (k keyring) authenticate(r *http.Request) (Key, *APIError) {
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return Key{}, &APIError{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "missing_api_key",
			Message: "You didn't provide an API key. Provide it in the Authorization header as 'Bearer YOUR_KEY'."}
	}
	key, found := k[hashOf(strings.TrimSpace(token))]
	if !found {
		return Key{}, &APIError{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "invalid_api_key",
			Message: "Incorrect API key provided."}
	}
	return key, nil
}
