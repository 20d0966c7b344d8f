package lucene

import (
	"errors"
	"strings"
	"testing"
)

func doc(m map[string]string) Doc {
	return func(field string) []string {
		if field == "" {
			var all []string
			for _, v := range m {
				all = append(all, v)
			}
			return all
		}
		if v, ok := m[field]; ok {
			return []string{v}
		}
		return nil
	}
}

func TestMatch(t *testing.T) {
	d := doc(map[string]string{
		"status": "success", "priority": "high", "itemNo": "5294f492-e32c", "orderId": "A-100",
		"customer": "Zhang San", "runTimes": "3", "timestamp": "2020-04-17 10:52:38", "path": "a/b/c.txt",
	})
	for _, tc := range []struct {
		q    string
		want bool
	}{
		{"", true},
		{"*", true},
		{"*:*", true},
		{"status:success", true},
		{"status:SUCCESS", true},
		{"status:failed", false},
		{"status:success AND priority:high", true},
		{"status:success AND priority:low", false},
		{"status:success && priority:low", false},
		{"status:failed OR priority:high", true},
		{"status:failed || priority:low", false},
		{"status:failed priority:high", true}, // default operator OR
		{"+status:success -priority:high", false},
		{"+status:success -priority:low", true},
		{"NOT status:failed", true},
		{"NOT status:success", false},
		{"status:success AND NOT priority:low", true},
		{"!status:success", false},
		{"(status:failed OR status:success) AND priority:high", true},
		{"status:(failed OR success)", true},
		{"status:(failed OR pending)", false},
		{`customer:"zhang san"`, true},
		{`customer:"san zhang"`, false},
		{"customer:zhang", true}, // a term matches a token of the value
		{"orderId:A-100", true},
		{"orderId:A*", true},
		{"orderId:B*", false},
		{"status:succ?ss", true},
		{"path:a*txt", true},
		{"missing:*", false},
		{"status:*", true},
		{"runTimes:[1 TO 3]", true},
		{"runTimes:{1 TO 3}", false},
		{"runTimes:[4 TO *]", false},
		{"timestamp:[\"2020-04-01 00:00:00\" TO \"2020-04-30 00:00:00\"]", true},
		{"success", true}, // no field: any field
		{"nothing", false},
		{`itemNo:5294f492\-e32c`, true},
	} {
		q, err := Parse(tc.q)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.q, err)
			continue
		}
		if got := q.Match(d); got != tc.want {
			t.Errorf("%q matched %v, want %v (parsed %s)", tc.q, got, tc.want, q)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, q := range []string{
		"status:", "(status:success", "status:success)", `"open`, "AND status:x", "status:x AND",
		"status:x OR", "a:b:c", "runTimes:[1 TO]", "runTimes:[1 3]", `trailing\`, strings.Repeat("(", 40) + "a" + strings.Repeat(")", 40),
		strings.Repeat("a", MaxLength+1),
	} {
		if _, err := Parse(q); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %v, want a syntax error", q, err)
		}
	}
}

// FuzzParse: whatever arrives, parsing never panics; a parsed query evaluates without panicking, and
// its rendering parses again.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"status:success AND priority:high", "(a OR b) -c", `x:"y z"`, "n:[1 TO 5}", "a* ?b", `\(`, "+a -b !c",
		"k:(v1 OR v2)", "*:*", "",
	} {
		f.Add(s)
	}
	d := doc(map[string]string{"a": "x y", "status": "success", "n": "3"})
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q) error %v is not a syntax error", s, err)
			}
			return
		}
		_ = q.Match(d)
		if len(q.String()) > MaxLength {
			return // escapes made the rendering longer than a filter may be
		}
		if _, err := Parse(q.String()); err != nil {
			t.Fatalf("rendering %q of %q does not parse: %v", q.String(), s, err)
		}
	})
}
