package analytics

import (
	"regexp"
	"strings"
)

// Placeholders that replace what Redact removes.
const (
	RedactedEmail = "[EMAIL]"
	RedactedPhone = "[PHONE]"
	RedactedCard  = "[CARD]"
	RedactedToken = "[TOKEN]"
)

var (
	// Secrets first: they may contain digits or '@' that the later patterns would half-match.
	// bearer: an Authorization-style "Bearer <token>"; the word stays, the token goes.
	bearerToken = regexp.MustCompile(`(?i)\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{12,}`)
	// keyValue: "api_key=...", "secret: ...", "password = '...'": the name stays.
	keyValue = regexp.MustCompile(`(?i)\b(api[_-]?key|apikey|access[_-]?token|secret|password|passwd|x-api-key)(\s*[:=]\s*["']?)[^\s"']{6,}`)
	// knownKey: well-known key formats (OpenAI/Anthropic sk-..., Stripe-style pk_/rk_, AWS access
	// key ids, Google API keys, GitHub and Slack tokens) and JWTs.
	knownKey = regexp.MustCompile(`\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})`)
	email    = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)
	// cardCandidate: 13 to 19 digits, optionally grouped by single spaces or dashes; only
	// Luhn-valid ones are redacted.
	cardCandidate = regexp.MustCompile(`\d(?:[ -]?\d){12,18}`)
	// phoneCandidate: an optional +country code, digits grouped by spaces, dots, dashes or an
	// area code in parentheses. Kept only with 7 to 15 digits and at least one separator or a
	// leading '+', so that plain numbers (ids, amounts, years) and ISO dates stay.
	phoneCandidate = regexp.MustCompile(`\+?\(?\d[\d().\s-]{5,}\d`)
	isoDate        = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// Redact replaces emails, phone numbers, Luhn-valid card numbers and bearer / API-key-looking
// tokens in s with the Redacted* placeholders, and returns the result and how many it replaced.
// It errs on the side of replacing: a long digit group with separators that looks like a phone
// number is replaced even if it is an order number.
func Redact(s string) (string, int) {
	n := 0
	count := func(re *regexp.Regexp, s string, repl func(m []string) (string, bool)) string {
		return replaceAllSubmatch(re, s, func(m []string) string {
			out, ok := repl(m)
			if ok {
				n++
				return out
			}
			return m[0]
		})
	}
	s = count(bearerToken, s, func(m []string) (string, bool) { return m[1] + " " + RedactedToken, true })
	s = count(keyValue, s, func(m []string) (string, bool) { return m[1] + m[2] + RedactedToken, true })
	s = count(knownKey, s, func([]string) (string, bool) { return RedactedToken, true })
	s = count(email, s, func([]string) (string, bool) { return RedactedEmail, true })
	s = count(cardCandidate, s, func(m []string) (string, bool) {
		return RedactedCard, luhnValid(digitsOf(m[0]))
	})
	s = count(phoneCandidate, s, func(m []string) (string, bool) {
		c := strings.TrimSpace(m[0])
		d := digitsOf(c)
		if len(d) < 7 || len(d) > 15 || isoDate.MatchString(c) {
			return "", false
		}
		if !strings.HasPrefix(c, "+") && !strings.ContainsAny(c, " .-()") {
			return "", false
		}
		// Keep the whitespace the candidate swallowed at its end (the pattern cannot end in one,
		// but TrimSpace covers leading ones), so the text around it reads the same.
		return strings.Replace(m[0], c, RedactedPhone, 1), true
	})
	return s, n
}

// replaceAllSubmatch is regexp.ReplaceAllStringFunc with the submatches passed in, and a match
// that touches a letter or digit on either side left alone (a word boundary that \b cannot express
// for patterns starting with '+' or '(').
func replaceAllSubmatch(re *regexp.Regexp, s string, f func([]string) string) string {
	idx := re.FindAllStringSubmatchIndex(s, -1)
	if idx == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, loc := range idx {
		start, end := loc[0], loc[1]
		if (start > 0 && isWordByte(s[start-1])) || (end < len(s) && isWordByte(s[end])) {
			continue
		}
		m := make([]string, len(loc)/2)
		for i := range m {
			if loc[2*i] >= 0 {
				m[i] = s[loc[2*i]:loc[2*i+1]]
			}
		}
		b.WriteString(s[last:start])
		b.WriteString(f(m))
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func digitsOf(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// luhnValid reports whether a digit string passes the Luhn checksum (card numbers do).
func luhnValid(d string) bool {
	if len(d) < 13 || len(d) > 19 {
		return false
	}
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if double {
			if v *= 2; v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum%10 == 0
}
