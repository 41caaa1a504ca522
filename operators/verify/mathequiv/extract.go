package mathequiv

import (
	"strings"
)

// Method names how Extract found an answer.
type Method string

const (
	MethodMinerva    Method = "minerva"     // "final answer is $X$. I hope"
	MethodBoxed      Method = "boxed"       // the last \boxed{X} or \fbox{X}
	MethodPhrase     Method = "phrase"      // "The answer is X", "final answer is X", "#### X"
	MethodLastNumber Method = "last_number" // the last number in the text
	MethodNone       Method = ""
)

// Extract finds the final answer of a solution text, trying in order:
//
//  1. the Minerva form "final answer is $X$. I hope" (the last one);
//  2. the content of the last \boxed{...} or \fbox{...} whose braces
//     balance, or \boxed X without braces (up to the next $ or line end);
//  3. the text after the last "The answer is" or "final answer is" (case
//     insensitive; also GSM8K's "#### X"), up to the end of the sentence or
//     line, or the math span right after it;
//  4. the last number in the text (thousands separators removed; a/b kept
//     whole).
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

var answerPhrases = []string{"the answer is", "final answer is", "####"}

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
		}
		last = num
		i = j
	}
	return last, last != ""
}
