package analytics

import "testing"

func TestRedact(t *testing.T) {
	tests := []struct {
		in, want string
		n        int
	}{
		{"write to jane.doe+x@example.co.uk today", "write to [EMAIL] today", 1},
		{"card 4111 1111 1111 1111 ok", "card [CARD] ok", 1},
		{"card 4111-1111-1111-1111", "card [CARD]", 1},
		{"card 4111111111111111.", "card [CARD].", 1},
		{"not a card 4111 1111 1111 1112", "not a card 4111 1111 1111 1112", 0},
		{"call +1 (415) 555-2671 now", "call [PHONE] now", 1},
		{"call 415-555-2671", "call [PHONE]", 1},
		{"call +442071838750", "call [PHONE]", 1},
		{"on 2025-03-04 order 12345678 cost 1500.75", "on 2025-03-04 order 12345678 cost 1500.75", 0},
		{"Authorization: Bearer abcDEF123456789xyz.qq", "Authorization: Bearer [TOKEN]", 1},
		{"key sk-proj-AbCdEfGhIjKlMnOpQrStUv and AKIAIOSFODNN7EXAMPLE", "key [TOKEN] and [TOKEN]", 2},
		{`api_key="s3cr3t-value-1"`, `api_key="[TOKEN]"`, 1},
		{"jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
			"jwt [TOKEN]", 1},
		{"nothing here, version 1.2.3", "nothing here, version 1.2.3", 0},
	}
	for _, tt := range tests {
		got, n := Redact(tt.in)
		if got != tt.want || n != tt.n {
			t.Errorf("Redact(%q) = %q, %d; want %q, %d", tt.in, got, n, tt.want, tt.n)
		}
	}
}

func TestLuhn(t *testing.T) {
	for d, want := range map[string]bool{
		"4111111111111111": true, "5555555555554444": true, "378282246310005": true,
		"4111111111111112": false, "123": false, "00000000000000000000": false,
	} {
		if got := luhnValid(d); got != want {
			t.Errorf("luhnValid(%s) = %v", d, got)
		}
	}
}
