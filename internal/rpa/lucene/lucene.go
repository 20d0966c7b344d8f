// Package lucene parses the Lucene-style filter expressions the RPA work-queue API accepts
// (`status:success AND priority:high`, quotes, AND/OR/NOT, + and -, parentheses, `*` and `?`
// wildcards, [a TO b] ranges) and evaluates them against a document of string fields. It follows the
// classic Lucene QueryParser with OR as the default operator. It owns no storage and knows nothing of
// queues: the caller decides which fields a document has.
package lucene

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Doc gives a document's values of a field; an empty field name asks for every value of every field
// (a term without a field searches them all).
type Doc func(field string) []string

// Query is a parsed filter.
type Query interface {
	Match(d Doc) bool
	String() string
}

// MaxLength bounds the expression so that parsing stays cheap whatever arrives.
const MaxLength = 4096

// maxDepth bounds nesting of parentheses.
const maxDepth = 32

// ErrSyntax wraps every parse error.
var ErrSyntax = errors.New("filter syntax error")

// Parse reads an expression. An empty or blank expression matches everything.
func Parse(s string) (Query, error) {
	if len(s) > MaxLength {
		return nil, fmt.Errorf("%w: longer than %d characters", ErrSyntax, MaxLength)
	}
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrSyntax)
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if len(toks) == 0 {
		return all{}, nil
	}
	q, err := p.clauses("", 0)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("%w: unexpected %q", ErrSyntax, p.toks[p.pos].text)
	}
	return q, nil
}

type tokKind int

const (
	tWord tokKind = iota
	tPhrase
	tAnd
	tOr
	tNot
	tPlus
	tMinus
	tLParen
	tRParen
	tColon
	tLBracket // [ or {
	tRBracket // ] or }
)

type token struct {
	kind tokKind
	text string // for words: the unescaped text; for brackets: the bracket itself
	wild bool   // an unescaped * or ? appears in the word
}

func lex(s string) ([]token, error) {
	var toks []token
	rs := []rune(s)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '(':
			toks = append(toks, token{kind: tLParen, text: "("})
			i++
		case r == ')':
			toks = append(toks, token{kind: tRParen, text: ")"})
			i++
		case r == ':':
			toks = append(toks, token{kind: tColon, text: ":"})
			i++
		case r == '[' || r == '{':
			toks = append(toks, token{kind: tLBracket, text: string(r)})
			i++
		case r == ']' || r == '}':
			toks = append(toks, token{kind: tRBracket, text: string(r)})
			i++
		case r == '+':
			toks = append(toks, token{kind: tPlus, text: "+"})
			i++
		case r == '-' && (i+1 < len(rs) && !unicode.IsSpace(rs[i+1])):
			toks = append(toks, token{kind: tMinus, text: "-"})
			i++
		case r == '!':
			toks = append(toks, token{kind: tNot, text: "!"})
			i++
		case r == '&' && i+1 < len(rs) && rs[i+1] == '&':
			toks = append(toks, token{kind: tAnd, text: "&&"})
			i += 2
		case r == '|' && i+1 < len(rs) && rs[i+1] == '|':
			toks = append(toks, token{kind: tOr, text: "||"})
			i += 2
		case r == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(rs) {
				if rs[i] == '\\' && i+1 < len(rs) {
					b.WriteRune(rs[i+1])
					i += 2
					continue
				}
				if rs[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteRune(rs[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("%w: unterminated quote", ErrSyntax)
			}
			toks = append(toks, token{kind: tPhrase, text: b.String()})
		default:
			var b strings.Builder
			wild := false
			for i < len(rs) {
				c := rs[i]
				if c == '\\' {
					if i+1 >= len(rs) {
						return nil, fmt.Errorf("%w: trailing backslash", ErrSyntax)
					}
					// An escaped wildcard is a literal: keep it escaped for the matcher.
					if rs[i+1] == '*' || rs[i+1] == '?' || rs[i+1] == '\\' || rs[i+1] == '[' {
						b.WriteRune('\\')
					}
					b.WriteRune(rs[i+1])
					i += 2
					continue
				}
				if unicode.IsSpace(c) || strings.ContainsRune("():[]{}\"", c) {
					break
				}
				if c == '*' || c == '?' {
					wild = true
				}
				b.WriteRune(c)
				i++
			}
			if b.Len() == 0 {
				return nil, fmt.Errorf("%w: unexpected %q", ErrSyntax, string(rs[i]))
			}
			w := b.String()
			switch w {
			case "AND":
				toks = append(toks, token{kind: tAnd, text: w})
			case "OR":
				toks = append(toks, token{kind: tOr, text: w})
			case "NOT":
				toks = append(toks, token{kind: tNot, text: w})
			default:
				if !wild {
					w = unescapeLiteral(w)
				}
				toks = append(toks, token{kind: tWord, text: w, wild: wild})
			}
		}
	}
	return toks, nil
}

// unescapeLiteral drops the escapes the lexer kept for wildcard matching when the word has no
// wildcard at all.
func unescapeLiteral(w string) string {
	if !strings.ContainsRune(w, '\\') {
		return w
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] == '\\' && i+1 < len(w) {
			i++
		}
		b.WriteByte(w[i])
	}
	return b.String()
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

type occur int

const (
	should occur = iota
	must
	mustNot
)

type clause struct {
	occ occur
	q   Query
}

// clauses parses a sequence of clauses up to a closing parenthesis or the end, applying the classic
// QueryParser's rules: AND makes both neighbours required, OR makes them optional, NOT and - prohibit,
// + requires, and with neither the default operator (OR) applies.
func (p *parser) clauses(field string, depth int) (Query, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrSyntax, maxDepth)
	}
	var cs []clause
	for {
		t, ok := p.peek()
		if !ok || t.kind == tRParen {
			break
		}
		conj := tokKind(-1)
		if t.kind == tAnd || t.kind == tOr {
			if len(cs) == 0 {
				return nil, fmt.Errorf("%w: %s without a left operand", ErrSyntax, t.text)
			}
			conj = t.kind
			p.pos++
			if t, ok = p.peek(); !ok || t.kind == tRParen {
				return nil, fmt.Errorf("%w: %s without a right operand", ErrSyntax, conjText(conj))
			}
		}
		mod := tokKind(-1)
		if t.kind == tNot || t.kind == tPlus || t.kind == tMinus {
			mod = t.kind
			p.pos++
		}
		q, err := p.clause(field, depth)
		if err != nil {
			return nil, err
		}
		if conj == tAnd && len(cs) > 0 && cs[len(cs)-1].occ == should {
			cs[len(cs)-1].occ = must
		}
		if conj == tOr && len(cs) > 0 && cs[len(cs)-1].occ == must {
			cs[len(cs)-1].occ = should
		}
		c := clause{occ: should, q: q}
		switch {
		case mod == tNot || mod == tMinus:
			c.occ = mustNot
		case mod == tPlus || conj == tAnd:
			c.occ = must
		}
		cs = append(cs, c)
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("%w: empty expression", ErrSyntax)
	}
	if len(cs) == 1 && cs[0].occ != mustNot {
		return cs[0].q, nil
	}
	return boolQuery(cs), nil
}

func conjText(k tokKind) string {
	if k == tAnd {
		return "AND"
	}
	return "OR"
}

// clause parses one operand: a group, a field:operand, a range, or a bare term.
func (p *parser) clause(field string, depth int) (Query, error) {
	t, ok := p.peek()
	if !ok {
		return nil, fmt.Errorf("%w: missing operand", ErrSyntax)
	}
	switch t.kind {
	case tLParen:
		p.pos++
		q, err := p.clauses(field, depth+1)
		if err != nil {
			return nil, err
		}
		if t, ok := p.peek(); !ok || t.kind != tRParen {
			return nil, fmt.Errorf("%w: missing )", ErrSyntax)
		}
		p.pos++
		return q, nil
	case tWord:
		p.pos++
		if n, ok := p.peek(); ok && n.kind == tColon {
			if field != "" {
				return nil, fmt.Errorf("%w: field inside a field group", ErrSyntax)
			}
			p.pos++
			name := t.text
			if name == "*" {
				name = ""
			}
			return p.clause(name, depth)
		}
		if t.text == "*" {
			if field == "" {
				return all{}, nil
			}
			return exists{field: field}, nil
		}
		return term{field: field, value: t.text, wild: t.wild}, nil
	case tPhrase:
		p.pos++
		return phrase{field: field, value: t.text}, nil
	case tLBracket:
		return p.rangeQuery(field)
	}
	return nil, fmt.Errorf("%w: unexpected %q", ErrSyntax, t.text)
}

func (p *parser) rangeQuery(field string) (Query, error) {
	open := p.toks[p.pos]
	p.pos++
	var parts []string
	for len(parts) < 3 {
		t, ok := p.peek()
		if !ok || (t.kind != tWord && t.kind != tPhrase) {
			return nil, fmt.Errorf("%w: a range is [from TO to]", ErrSyntax)
		}
		parts = append(parts, t.text)
		p.pos++
	}
	closeTok, ok := p.peek()
	if !ok || closeTok.kind != tRBracket || parts[1] != "TO" {
		return nil, fmt.Errorf("%w: a range is [from TO to]", ErrSyntax)
	}
	p.pos++
	return rangeQ{field: field, lo: parts[0], hi: parts[2], loIncl: open.text == "[", hiIncl: closeTok.text == "]"}, nil
}

// all matches every document (an empty filter, `*`, `*:*`).
type all struct{}

func (all) Match(Doc) bool { return true }
func (all) String() string { return "*:*" }

// exists matches documents with a non-empty value in the field (`field:*`).
type exists struct{ field string }

func (e exists) String() string { return fieldPrefix(e.field) + "*" }

func (e exists) Match(d Doc) bool {
	for _, v := range d(e.field) {
		if v != "" {
			return true
		}
	}
	return false
}

type term struct {
	field, value string
	wild         bool
}

func (t term) Match(d Doc) bool {
	want := strings.ToLower(t.value)
	for _, v := range d(t.field) {
		lv := strings.ToLower(v)
		for _, cand := range append([]string{lv}, tokens(lv)...) {
			if t.wild {
				if wildMatch(want, cand) {
					return true
				}
				continue
			}
			if cand == want {
				return true
			}
		}
	}
	return false
}

func (t term) String() string { return fieldPrefix(t.field) + quoteIfNeeded(t.value, t.wild) }

// tokens splits a value the way an analyser would: on anything that is not a letter or digit.
func tokens(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

type phrase struct{ field, value string }

func (p phrase) Match(d Doc) bool {
	want := strings.ToLower(p.value)
	for _, v := range d(p.field) {
		if strings.Contains(strings.ToLower(v), want) {
			return true
		}
	}
	return false
}

func (p phrase) String() string {
	return fieldPrefix(p.field) + strconv.Quote(p.value)
}

type rangeQ struct {
	field, lo, hi  string
	loIncl, hiIncl bool
}

func (r rangeQ) Match(d Doc) bool {
	for _, v := range d(r.field) {
		if r.lo != "*" {
			c := compare(v, r.lo)
			if c < 0 || (c == 0 && !r.loIncl) {
				continue
			}
		}
		if r.hi != "*" {
			c := compare(v, r.hi)
			if c > 0 || (c == 0 && !r.hiIncl) {
				continue
			}
		}
		return true
	}
	return false
}

func (r rangeQ) String() string {
	l, h := "{", "}"
	if r.loIncl {
		l = "["
	}
	if r.hiIncl {
		h = "]"
	}
	return fieldPrefix(r.field) + l + strconv.Quote(r.lo) + " TO " + strconv.Quote(r.hi) + h
}

// compare orders numbers numerically and everything else as text (dates written
// "2006-01-02 15:04:05" order correctly as text).
func compare(a, b string) int {
	fa, ea := strconv.ParseFloat(a, 64)
	fb, eb := strconv.ParseFloat(b, 64)
	if ea == nil && eb == nil {
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}

type boolQuery []clause

func (b boolQuery) Match(d Doc) bool {
	hasMust, anyShould, hasShould := false, false, false
	for _, c := range b {
		switch c.occ {
		case must:
			hasMust = true
			if !c.q.Match(d) {
				return false
			}
		case mustNot:
			if c.q.Match(d) {
				return false
			}
		case should:
			hasShould = true
			if !anyShould && c.q.Match(d) {
				anyShould = true
			}
		}
	}
	// Like Lucene, optional clauses matter only when nothing is required; a query made only of
	// prohibitions matches whatever they do not exclude.
	return hasMust || !hasShould || anyShould
}

func (b boolQuery) String() string {
	parts := make([]string, len(b))
	for i, c := range b {
		prefix := ""
		switch c.occ {
		case must:
			prefix = "+"
		case mustNot:
			prefix = "-"
		}
		parts[i] = prefix + "(" + c.q.String() + ")"
	}
	return strings.Join(parts, " ")
}

func fieldPrefix(f string) string {
	if f == "" {
		return ""
	}
	return quoteIfNeeded(f, false) + ":"
}

// quoteIfNeeded renders a word so that Parse reads it back as the same word.
func quoteIfNeeded(s string, wild bool) string {
	var b strings.Builder
	for _, r := range s {
		if wild && (r == '*' || r == '?') {
			b.WriteRune(r)
			continue
		}
		if unicode.IsSpace(r) || strings.ContainsRune(`\():[]{}"+-!&|*?`, r) {
			b.WriteRune('\\')
		}
		b.WriteRune(r)
	}
	out := b.String()
	switch out {
	case "AND", "OR", "NOT", "TO":
		return `\` + out
	}
	return out
}

// wildMatch matches s against a pattern where * is any run of characters, ? any one character and a
// backslash makes the next character literal.
func wildMatch(pattern, s string) bool {
	p, r := []rune(pattern), []rune(s)
	// Iterative matching with one backtrack point for the last *: linear in practice, and never
	// exponential whatever the pattern.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(r) {
		if pi < len(p) {
			c := p[pi]
			switch {
			case c == '*':
				star, mark = pi, si
				pi++
				continue
			case c == '?':
				pi++
				si++
				continue
			case c == '\\' && pi+1 < len(p):
				if p[pi+1] == r[si] {
					pi += 2
					si++
					continue
				}
			case c == r[si]:
				pi++
				si++
				continue
			}
		}
		if star < 0 {
			return false
		}
		pi = star + 1
		mark++
		si = mark
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
