package jsonw

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// String round-trips through encoding/json to what encoding/json itself would give.
func TestStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "ctl\x00\x01\x1f\t\n\r\b\f\x7f", "utf8 é 日本 🎉",
		"bad \xff\xfe utf8", "a\xc3", "sep \u2028 \u2029", "<html>&</html>"} {
		checkString(t, s)
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "hello \"world\"\n", "\u2028\u2029", "\xff\xfe", "héllo 世界 🎉"} {
		f.Add(s)
	}
	f.Fuzz(checkString)
}

func checkString(t *testing.T, s string) {
	b := String([]byte("x"), s)
	if b[0] != 'x' {
		t.Fatal("prefix lost")
	}
	var got string
	if err := json.Unmarshal(b[1:], &got); err != nil {
		t.Fatalf("%q: %s is not a JSON string: %v", s, b[1:], err)
	}
	want, _ := json.Marshal(s)
	var wantBack string
	_ = json.Unmarshal(want, &wantBack)
	if got != wantBack {
		t.Fatalf("round trip of %q = %q, encoding/json gives %q", s, got, wantBack)
	}
	if strings.ContainsAny(string(b), "\u2028\u2029") {
		t.Fatalf("%q: U+2028/U+2029 left unescaped", s)
	}
}

func TestNullStringAndFloat(t *testing.T) {
	if got := string(NullString(nil, "")); got != "null" {
		t.Errorf("NullString(\"\") = %s", got)
	}
	if got := string(NullString(nil, "a")); got != `"a"` {
		t.Errorf("NullString(a) = %s", got)
	}
	for _, f := range []float64{0, 1, -2.5, 0.000123, 1e-7, 3e21, 123456789.125} {
		want, _ := json.Marshal(f)
		if got := string(Float(nil, f)); got != string(want) {
			t.Errorf("Float(%g) = %s, encoding/json %s", f, got, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := string(Float(nil, f)); got != "0" {
			t.Errorf("Float(%g) = %s, want 0", f, got)
		}
	}
}
