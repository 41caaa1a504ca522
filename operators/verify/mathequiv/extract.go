package mathequiv

import (
	"strings"
)

// Method names how Extract found an answer.
type Method string

const (
	MethodMinerva    Method = "minerva"     // "final answer is $X$. I hope"
	MethodBoxed      Method = "boxed"       // the last \boxed{X} or \fbox{X}
	MethodPhrase     Method = "phrase"      // "The answer is X", "final answer is X", "Final Answer: X", "#### X"
	MethodMath       Method = "math"        // the last $...$, $$...$$, \(...\) or \[...\] span
	MethodLastNumber Method = "last_number" // the last number in the text
	MethodNone       Method = ""
)

// Extract finds the final answer of a solution text, trying in order:
//
//  1. the Minerva form "final answer is $X$. I hope" (the last one);
//  2. the content of the last \boxed{...} or \fbox{...} whose braces
//     balance, or \boxed X without braces (up to the next $ or line end);
//  3. the text after the last "The answer is", "final answer is" or
//     "Final Answer:" (case insensitive; also GSM8K's "#### X"), up to the
//     end of the sentence or line, or the math span right after it;
//  4. the last math span ($...$, $$...$$, \(...\), \[...\]); in a chain
//     such as $2+3=5$ the part after the last "=" (a label such as x = is
//     kept);
//  5. the last number in the text (thousands separators removed; a/b kept
//     whole, a mixed number 3 1/2 whole, and a parenthesised expression
//     such as (9+1) whole rather than its last number).
//
// It returns the raw answer (not normalised) and how it was found; ""
// and MethodNone when there is none.
func Extract(text string) (string, Method) {
	if a, ok := extractMinerva(text); ok {
		return a, MethodMinerva
	}
	if a, ok := extractBoxed(text); ok {
		return a, MethodBoxed
	}
	if a, ok := extractPhrase(text); ok {
		return a, MethodPhrase
	}
	if a, ok := lastMath(text); ok {
		return a, MethodMath
	}
	if a, ok := lastNumber(text); ok {
		return a, MethodLastNumber
	}
	return "", MethodNone
}

// lowerASCII lowercases ASCII letters only, keeping byte offsets.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func extractMinerva(text string) (string, bool) {
	const head, tail = "final answer is $", "$. i hope"
	low := lowerASCII(text)
	for end := len(low); end > 0; {
		i := strings.LastIndex(low[:end], head)
		if i < 0 {
			return "", false
		}
		start := i + len(head)
		if j := strings.Index(low[start:], tail); j >= 0 {
			a := strings.TrimSpace(text[start : start+j])
			if a != "" && !strings.Contains(a, "\n\n") {
				return a, true
			}
		}
		end = i
	}
	return "", false
}

func extractBoxed(text string) (string, bool) {
	end := len(text)
	for end > 0 {
		ib := lastCmd(text[:end], `\boxed`)
		ifb := lastCmd(text[:end], `\fbox`)
		i, cmd := ib, `\boxed`
		if ifb > i {
			i, cmd = ifb, `\fbox`
		}
		if i < 0 {
			return "", false
		}
		j := i + len(cmd)
		for j < len(text) && (text[j] == ' ' || text[j] == '\t') {
			j++
		}
		if j < len(text) && text[j] == '{' {
			if e := matchBrace(text, j); e >= 0 {
				if a := strings.TrimSpace(text[j+1 : e]); a != "" {
					return a, true
				}
			}
		} else if j > i+len(cmd) && cmd == `\boxed` {
			// \boxed 5: up to the next $ or line end
			rest := text[j:]
			if k := strings.IndexAny(rest, "$\n"); k >= 0 {
				rest = rest[:k]
			}
			if a := strings.TrimSpace(rest); a != "" {
				return a, true
			}
		}
		end = i
	}
	return "", false
}

// ExtractBoxed returns the contents of every \boxed{...} and \fbox{...}
// of text whose braces balance, in order (the "boxed: all" mode).
func ExtractBoxed(text string) []string {
	var out []string
	for i := 0; i < len(text); i++ {
		if text[i] != '\\' {
			continue
		}
		cmd := ""
		switch {
		case cmdAt(text, i, `\boxed`):
			cmd = `\boxed`
		case cmdAt(text, i, `\fbox`):
			cmd = `\fbox`
		default:
			continue
		}
		j := i + len(cmd)
		for j < len(text) && text[j] == ' ' {
			j++
		}
		if j >= len(text) || text[j] != '{' {
			continue
		}
		e := matchBrace(text, j)
		if e < 0 {
			continue
		}
		if a := strings.TrimSpace(text[j+1 : e]); a != "" {
			out = append(out, a)
		}
		i = e
	}
	return out
}

// lastMath returns the last non-empty math span of text.
func lastMath(text string) (string, bool) {
	last := ""
	for i := 0; i < len(text); {
		var open, close string
		switch {
		case strings.HasPrefix(text[i:], "$$"):
			open, close = "$$", "$$"
		case text[i] == '$' && (i == 0 || text[i-1] != '\\'):
			open, close = "$", "$"
		case strings.HasPrefix(text[i:], `\(`):
			open, close = `\(`, `\)`
		case strings.HasPrefix(text[i:], `\[`):
			open, close = `\[`, `\]`
		default:
			i++
			continue
		}
		k := strings.Index(text[i+len(open):], close)
		if k < 0 {
			break
		}
		if a := strings.TrimSpace(text[i+len(open) : i+len(open)+k]); a != "" {
			last = a
		}
		i += len(open) + k + len(close)
	}
	if last == "" {
		return "", false
	}
	return chainTail(last), true
}

// chainTail keeps the result of a computation chain: 2+3=5 gives 5, but
// x = 5 stays whole (a label) and relations are left alone.
func chainTail(s string) string {
	if strings.ContainsAny(s, "<>") || strings.Contains(s, `\le`) || strings.Contains(s, `\ge`) || strings.Contains(s, `\ne`) {
		return s
	}
	i := strings.LastIndexByte(s, '=')
	if i < 0 {
		return s
	}
	first := strings.IndexByte(s, '=')
	if first == i && isLabel(strings.TrimSpace(s[:i])) {
		return s
	}
	if t := strings.TrimSpace(s[i+1:]); t != "" {
		return t
	}
	return s
}

// lastCmd finds the last control word cmd in s (not a prefix of a longer one).
func lastCmd(s, cmd string) int {
	for end := len(s); end > 0; {
		i := strings.LastIndex(s[:end], cmd)
		if i < 0 {
			return -1
		}
		if cmdAt(s, i, cmd) {
			return i
		}
		end = i
	}
	return -1
}

var answerPhrases = []string{"the answer is", "final answer is", "final answer:", "final answer", "####"}

func extractPhrase(text string) (string, bool) {
	low := lowerASCII(text)
	best, bestEnd := -1, 0
	for _, p := range answerPhrases {
		if i := strings.LastIndex(low, p); i > best {
			best, bestEnd = i, i+len(p)
		}
	}
	if best < 0 {
		return "", false
	}
	rest := strings.TrimLeft(text[bestEnd:], " \t:*")
	if low := lowerASCII(rest); strings.HasPrefix(low, "is ") || strings.HasPrefix(low, "is:") {
		rest = strings.TrimLeft(rest[2:], " \t:*")
	}
	rest = strings.TrimPrefix(rest, "\n")
	rest = strings.TrimLeft(rest, " \t:*")
	if a, ok := mathSpan(rest); ok {
		return a, true
	}
	if k := strings.IndexByte(rest, '\n'); k >= 0 {
		rest = rest[:k]
	}
	rest = sentence(rest)
	rest = strings.TrimSpace(strings.Trim(rest, "* "))
	return rest, rest != ""
}

// mathSpan returns the math at the start of s: $...$, $$...$$, \(...\) or
// \[...\].
func mathSpan(s string) (string, bool) {
	for _, d := range [][2]string{{"$$", "$$"}, {"$", "$"}, {`\(`, `\)`}, {`\[`, `\]`}} {
		if strings.HasPrefix(s, d[0]) {
			if k := strings.Index(s[len(d[0]):], d[1]); k >= 0 {
				a := strings.TrimSpace(s[len(d[0]) : len(d[0])+k])
				return a, a != ""
			}
		}
	}
	return "", false
}

// sentence cuts s at the first sentence end: a period, question or
// exclamation mark followed by a space or the end (not a decimal point).
func sentence(s string) string {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case '.', '!', '?':
			if depth <= 0 && (i+1 == len(s) || s[i+1] == ' ') {
				return s[:i]
			}
		}
	}
	return s
}

// lastNumber returns the last number in text: -12, 3.5, 1,234,567, 3/4.
func lastNumber(text string) (string, bool) {
	last := ""
	lastStart, lastEnd := -1, -1
	prev, prevEnd := "", -1
	for i := 0; i < len(text); {
		c := text[i]
		if !isDigit(c) && !(c == '.' && i+1 < len(text) && isDigit(text[i+1])) {
			i++
			continue
		}
		if i > 0 && isLetter(text[i-1]) {
			// part of a name such as x2 or log10: skip the run
			for i < len(text) && (isDigit(text[i]) || text[i] == '.') {
				i++
			}
			continue
		}
		start := i
		if start > 0 && text[start-1] == '-' {
			start--
		}
		j := i
		for j < len(text) && isDigit(text[j]) {
			j++
		}
		// thousands groups
		for j+3 < len(text) && text[j] == ',' && isDigit(text[j+1]) && isDigit(text[j+2]) && isDigit(text[j+3]) &&
			(j+4 == len(text) || !isDigit(text[j+4])) {
			j += 4
		}
		if j+1 < len(text) && text[j] == '.' && isDigit(text[j+1]) {
			j++
			for j < len(text) && isDigit(text[j]) {
				j++
			}
		}
		num := strings.ReplaceAll(text[start:j], ",", "")
		// a fraction a/b
		if j+1 < len(text) && text[j] == '/' && isDigit(text[j+1]) {
			k := j + 1
			for k < len(text) && isDigit(text[k]) {
				k++
			}
			num += text[j:k]
			j = k
			// a mixed number 3 1/2: never only its fraction
			if prevEnd == start-1 && text[prevEnd] == ' ' && allDigits(strings.TrimPrefix(prev, "-")) {
				num = prev + " " + num
				start = lastStart
			}
		}
		prev, prevEnd = num, j
		last, lastStart, lastEnd = num, start, j
		i = j
	}
	if last == "" {
		return "", false
	}
	if e, ok := enclosingExpr(text, lastStart, lastEnd); ok {
		return e, true
	}
	return last, true
}

// enclosingExpr returns the parenthesised arithmetic expression that ends
// right after the number text[start:end], as in "(9+1)".
func enclosingExpr(text string, start, end int) (string, bool) {
	if end >= len(text) || text[end] != ')' {
		return "", false
	}
	depth, ops := 0, 0
	for k := end; k >= 0; k-- {
		c := text[k]
		switch {
		case c == ')':
			depth++
		case c == '(':
			depth--
			if depth == 0 {
				if ops == 0 {
					return "", false
				}
				return text[k : end+1], true
			}
		case c == '+' || c == '-' || c == '*' || c == '/' || c == '^':
			ops++
		case isDigit(c) || c == ' ' || c == '.':
		default:
			return "", false
		}
	}
	return "", false
}
