package mathequiv

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
)

// vkind is the shape of an answer.
type vkind uint8

const (
	vEmpty  vkind = iota // nothing
	vScalar              // one expression
	vSeq                 // tuple, interval, set or list
	vMatrix              // pmatrix cells
	vEq                  // lhs = rhs
	vRel                 // lhs < rhs and the like
	vUnion               // intervals joined by \cup
	vText                // plain words
	vBad                 // something the fast path cannot read
	vAny                 // any one of items ({"any_of": [...]}, boxed: all)
)

// Brackets of a sequence.
const (
	brBare = 0   // 1, 2
	brJSON = 'j' // a JSON list: matches any ordered bracket
	brSet  = '{'
)

// val is a parsed answer.
type val struct {
	k     vkind
	norm  string
	expr  *node
	vars  []string
	dec   bool // a literal with a decimal point or exponent: never integer-exact
	plain bool // a plain decimal number (the reference grader's is_digit)
	items []*val
	open  byte // vSeq
	close byte
	rows  [][]*val
	lhs   *node // vEq, vRel
	rhs   *node
	rel   string
	lvars []string
	// chain is a relation chain a < x \le b: the sides and the relations
	// between them (vRel with more than one relation).
	chain []*node
	rels  []string
	// decAlt is the value of a two-item list read with a decimal comma
	// (1,22 = 1.22): used only against a single number.
	decAlt *val
	// full is the whole canonical answer (with label and unit); label
	// and unit are set when the answer has them.
	full  string
	label string
	unit  *unit
}

// Answer is a parsed, normalised final answer, ready to compare. Parse it
// once and compare it many times (vote does).
type Answer struct {
	v *val
}

// Norm returns the normalised text.
func (a *Answer) Norm() string {
	if a == nil || a.v == nil {
		return ""
	}
	if a.v.full != "" {
		return a.v.full
	}
	return a.v.norm
}

// Empty reports whether there is no answer.
func (a *Answer) Empty() bool { return a == nil || a.v == nil || a.v.k == vEmpty }

// Parse normalises s and parses it.
func Parse(s string) *Answer {
	return &Answer{v: parseText(s)}
}

// parseText normalises and parses an answer with its label and unit.
func parseText(s string) *val {
	p := normalizeParts(s)
	v := parseNorm(p.value, 0)
	v.full = p.full()
	if v.k == vEmpty {
		return v
	}
	v.label = p.label
	if p.unit != "" {
		v.unit = parseUnit(p.unit)
	}
	return v
}

// ParseFloat makes an answer from a float value (a float column): it is
// never treated as an exact integer.
func ParseFloat(f float64) *Answer {
	v := parseText(strconv.FormatFloat(f, 'g', -1, 64))
	v.dec = true
	return &Answer{v: v}
}

// ParseJSON makes an answer from JSON text (a json column, such as a Code
// CoT output): a number is read exactly, a string is the text inside, a list
// compares like a tuple (or as a matrix, for a list of lists), true and
// false are text, null is no answer. Text that is not JSON is parsed as
// LaTeX.
func ParseJSON(raw string) *Answer {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil || dec.More() {
		return Parse(raw)
	}
	return &Answer{v: fromJSON(x, 0)}
}

// FromValue makes an answer from a decoded JSON value (string, json.Number,
// float64, int, bool, []any, nil).
func FromValue(x any) *Answer { return &Answer{v: fromJSON(x, 0)} }

func fromJSON(x any, depth int) *val {
	if depth > 32 {
		return &val{k: vBad}
	}
	switch t := x.(type) {
	case nil:
		return &val{k: vEmpty}
	case string:
		return parseText(t)
	case json.Number:
		return parseText(string(t))
	case float64:
		return ParseFloat(t).v
	case int:
		return parseNorm(strconv.Itoa(t), 0)
	case int64:
		return parseNorm(strconv.FormatInt(t, 10), 0)
	case *big.Int: // an integer beyond int64 from a json column, exact
		return parseNorm(t.String(), 0)
	case bool:
		return &val{k: vText, norm: strconv.FormatBool(t)}
	case map[string]any:
		// {"any_of": [...]}: several candidate answers (answer's boxed: all)
		if list, ok := t["any_of"].([]any); ok && len(t) == 1 {
			v := &val{k: vAny}
			var b strings.Builder
			b.WriteString("any_of(")
			for _, e := range list {
				it := fromJSON(e, depth+1)
				if it.k == vEmpty {
					continue
				}
				v.items = append(v.items, it)
				if len(v.items) > 1 {
					b.WriteString("; ")
				}
				b.WriteString(it.Norm())
			}
			b.WriteByte(')')
			v.norm, v.full = b.String(), b.String()
			if len(v.items) == 0 {
				v.k = vEmpty
			}
			return v
		}
	case []any:
		v := &val{k: vSeq, open: brJSON, close: brJSON}
		var b strings.Builder
		b.WriteByte('[')
		for i, e := range t {
			it := fromJSON(e, depth+1)
			v.items = append(v.items, it)
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(it.norm)
		}
		b.WriteByte(']')
		v.norm = b.String()
		return v
	}
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(x)
	return &val{k: vBad, norm: strings.TrimSpace(buf.String())}
}

// Norm returns the whole canonical text of v.
func (v *val) Norm() string {
	if v.full != "" {
		return v.full
	}
	return v.norm
}

// AnyOf makes an answer that equals another when any one of answers does
// (the answer step's boxed: all). Its JSON form is {"any_of": [...]}.
func AnyOf(answers []string) *Answer {
	list := make([]any, len(answers))
	for i, a := range answers {
		list[i] = a
	}
	return &Answer{v: fromJSON(map[string]any{"any_of": list}, 0)}
}

// parseNorm parses a normalised answer.
func parseNorm(s string, depth int) *val {
	v := &val{norm: s}
	if s == "" {
		v.k = vEmpty
		return v
	}
	if depth > 16 {
		v.k = vBad
		return v
	}
	if strings.HasPrefix(s, `\begin{pmatrix}`) && strings.HasSuffix(s, `\end{pmatrix}`) {
		return parseMatrix(v, s[len(`\begin{pmatrix}`):len(s)-len(`\end{pmatrix}`)], depth)
	}
	if strings.HasPrefix(s, `\{`) && strings.HasSuffix(s, `\}`) && setEnclosed(s) {
		// an explicit set
		v.k, v.open, v.close = vSeq, brSet, brSet
		inner := strings.TrimSpace(s[2 : len(s)-2])
		if inner == "" {
			return v
		}
		for _, p := range splitTop(inner, ",") {
			v.items = append(v.items, parseItem(p, depth))
		}
		return v
	}
	if s == `\emptyset` || s == "{}" {
		v.k, v.open, v.close = vSeq, brSet, brSet
		return v
	}
	if i := indexCmd(s, `\pm`); i >= 0 || indexCmd(s, `\mp`) >= 0 {
		// a \pm b is the set {a + b, a - b}
		if i < 0 {
			i = indexCmd(s, `\mp`)
		}
		if topLevelIndex(s, ',') < 0 && findTopCmd(s, i) {
			rest := s[i+3:]
			if indexCmd(rest, `\pm`) < 0 && indexCmd(rest, `\mp`) < 0 {
				v.k, v.open, v.close = vSeq, brSet, brSet
				v.items = []*val{parseNorm(s[:i]+"+"+rest, depth+1), parseNorm(s[:i]+"-"+rest, depth+1)}
				return v
			}
		}
	}
	if strings.Contains(s, `\cup`) {
		parts := splitTop(s, `\cup`)
		if len(parts) > 1 {
			v.k = vUnion
			for _, p := range parts {
				v.items = append(v.items, parseNorm(p, depth+1))
			}
			return v
		}
	}
	// a bracketed sequence: (a,b), [a,b), {a,b}
	if len(s) >= 2 && strings.IndexByte("([{", s[0]) >= 0 && strings.IndexByte(")]}", s[len(s)-1]) >= 0 && enclosed(s) {
		inner := s[1 : len(s)-1]
		if parts := splitTop(inner, ","); len(parts) > 1 {
			v.k = vSeq
			v.open, v.close = s[0], s[len(s)-1]
			if v.open == '{' && v.close != '}' || v.close == '}' && v.open != '{' {
				v.k = vBad
				return v
			}
			if v.open == '{' {
				// bare braces only group: {1,3} is the list 1, 3
				v.open, v.close = brBare, brBare
			}
			for _, p := range parts {
				v.items = append(v.items, parseItem(p, depth))
			}
			return v
		}
	}
	if topLevelIndex(s, ',') >= 0 {
		if parts := splitTop(s, ","); len(parts) > 1 {
			v.k = vSeq
			v.open, v.close = brBare, brBare
			for _, p := range parts {
				v.items = append(v.items, parseItem(p, depth))
			}
			if len(parts) == 2 && decimalCommaDigits(parts[0], parts[1]) {
				v.decAlt = parseNorm(parts[0]+"."+parts[1], depth+1)
			}
			return v
		}
	}
	if rel, i, w := findRelation(s); rel != "" {
		// a relation or a chain of relations: a < x \le b
		var sides []*node
		var rels []string
		var vars []string
		rest := s
		for rel != "" {
			n, nv := parseExpr(rest[:i])
			if n == nil {
				v.k = vBad
				return v
			}
			sides, rels, vars = append(sides, n), append(rels, rel), union(vars, nv)
			rest = rest[i+w:]
			rel, i, w = findRelation(rest)
		}
		n, nv := parseExpr(rest)
		if n == nil || strings.IndexByte(rest, '=') >= 0 && !strings.Contains(rest, "<=") && !strings.Contains(rest, ">=") {
			v.k = vBad
			return v
		}
		sides, vars = append(sides, n), union(vars, nv)
		v.k, v.lhs, v.rhs, v.rel = vRel, sides[0], sides[1], rels[0]
		v.lvars = vars
		if len(rels) > 1 {
			v.chain, v.rels = sides, rels
		}
		return v
	}
	if i := strings.IndexByte(s, '='); i >= 0 {
		if strings.Count(s, "=") != 1 {
			v.k = vBad
			return v
		}
		l, lv := parseExpr(s[:i])
		r, rv := parseExpr(s[i+1:])
		if l == nil || r == nil {
			v.k = vBad
			return v
		}
		v.k, v.lhs, v.rhs = vEq, l, r
		v.lvars = union(lv, rv)
		return v
	}
	if textWords[strings.ToLower(s)] {
		v.k = vText
		return v
	}
	n, vars := parseExpr(s)
	if n == nil {
		if isWords(s) {
			v.k = vText
		} else {
			v.k = vBad
		}
		return v
	}
	v.k, v.expr, v.vars = vScalar, n, vars
	v.dec = hasDecimal(n)
	v.plain = isPlain(s)
	return v
}

// parseItem parses one element of a sequence, dropping a "x=" left side.
func parseItem(s string, depth int) *val {
	t, _ := dropShortLHS(s)
	return parseNorm(strings.TrimSpace(t), depth+1)
}

// setEnclosed reports whether the \{ at the start of s closes at its end.
func setEnclosed(s string) bool {
	depth := 0
	for i := 0; i < len(s)-1; i++ {
		if s[i] != '\\' {
			continue
		}
		switch s[i+1] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 && i+2 != len(s) {
				return false
			}
		}
		i++
	}
	return depth == 0
}

// findTopCmd reports whether the command at s[i] is outside brackets.
func findTopCmd(s string, i int) bool {
	depth := 0
	for j := 0; j < i; j++ {
		switch s[j] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		}
	}
	return depth == 0
}

// decimalCommaDigits reports whether a,b is a number with a decimal comma:
// an integer, a comma without a space, and digits that are not exactly
// three (1,22 and 1000,99; 1,500 is a thousands separator).
func decimalCommaDigits(a, b string) bool {
	a = strings.TrimPrefix(a, "-")
	return allDigits(a) && allDigits(b) && len(b) != 3
}

func parseMatrix(v *val, body string, depth int) *val {
	v.k = vMatrix
	for _, row := range strings.Split(body, `\\`) {
		if strings.TrimSpace(row) == "" {
			continue
		}
		var cells []*val
		for _, c := range strings.Split(row, "&") {
			cells = append(cells, parseNorm(strings.TrimSpace(c), depth+1))
		}
		v.rows = append(v.rows, cells)
	}
	if len(v.rows) == 0 {
		v.k = vBad
	}
	return v
}

// enclosed reports whether the bracket at s[0] closes at the last byte
// (allowing a mismatched kind there, as in [a,b)).
func enclosed(s string) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 && i != len(s)-1 {
				return false
			}
		}
	}
	return depth == 0
}

// splitTop splits s at top-level occurrences of sep.
func splitTop(s, sep string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case '\\':
			if depth == 0 && strings.HasPrefix(s[i:], sep) && sep[0] == '\\' && cmdAt(s, i, sep) {
				parts = append(parts, s[start:i])
				start = i + len(sep)
				i += len(sep) - 1
			}
			continue
		}
		if depth == 0 && sep[0] != '\\' && strings.HasPrefix(s[i:], sep) {
			parts = append(parts, s[start:i])
			start = i + len(sep)
			i += len(sep) - 1
		}
	}
	return append(parts, s[start:])
}

// findRelation finds the one top-level inequality sign of s.
func findRelation(s string) (rel string, at, width int) {
	if strings.IndexAny(s, "<>") < 0 && !strings.Contains(s, `\le`) && !strings.Contains(s, `\ge`) && !strings.Contains(s, `\ne`) {
		return "", 0, 0
	}
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case '<', '>':
			if depth != 0 {
				continue
			}
			if i+1 < len(s) && s[i+1] == '=' {
				return string(c) + "=", i, 2
			}
			return string(c), i, 1
		case '\\':
			if depth != 0 {
				continue
			}
			for _, r := range []string{`\le`, `\ge`, `\ne`} {
				if cmdAt(s, i, r) {
					return map[string]string{`\le`: "<=", `\ge`: ">=", `\ne`: "!="}[r], i, len(r)
				}
			}
		}
	}
	return "", 0, 0
}

// textWords are short words that must never be read as products of
// variables (no = n*o).
var textWords = map[string]bool{"no": true, "yes": true, "not": true, "none": true, "neither": true, "both": true}

// isWords reports whether s is plain text: letters, spaces and light
// punctuation, without digits or LaTeX.
func isWords(s string) bool {
	letters := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isLetter(c) || c >= 0x80:
			letters++
		case c == ' ' || c == '\'' || c == '-' || c == '.' || c == '"' || c == '?' || c == '!':
		default:
			return false
		}
	}
	return letters > 0
}

// isPlain reports whether s is a plain number as the reference grader's
// is_digit sees it (after its normalisation removed % and commas).
func isPlain(s string) bool {
	s = strings.TrimSuffix(s, "%")
	return s != "" && isSimpleNumber(s)
}

func union(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	out := append([]string(nil), a...)
	for _, x := range b {
		found := false
		for _, y := range out {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			out = append(out, x)
		}
	}
	return out
}
