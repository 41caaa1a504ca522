// Package pytok is a small, forgiving Python tokenizer for deduplication.
// It never fails: text that is not Python (an unterminated string, a stray
// character) still yields a token stream, so any row can be shingled.
//
// Comments, indentation and blank lines produce no tokens; every logical
// line ends with one Newline token (lines continued inside brackets or with
// a backslash are one logical line).
package pytok

// Kind is a token kind.
type Kind uint8

const (
	Name Kind = iota + 1
	Number
	String
	Op
	Newline
)

// Token is a span of the source.
type Token struct {
	Kind       Kind
	Start, End int32
}

// opLen returns the length of the operator at src[i]: Python's
// three-character (**= //= >>= <<= ...) and two-character (** // << >> ->
// and X= for X in =!<>+-*/%&|^@:) operators, else 1.
func opLen(src string, i int) int {
	if i+1 >= len(src) {
		return 1
	}
	c, c1 := src[i], src[i+1]
	if c1 == c && (c == '*' || c == '/' || c == '<' || c == '>') {
		if i+2 < len(src) && src[i+2] == '=' {
			return 3
		}
		return 2
	}
	if c == '.' && c1 == '.' && i+2 < len(src) && src[i+2] == '.' {
		return 3
	}
	if c1 == '=' {
		switch c {
		case '=', '!', '<', '>', '+', '-', '*', '/', '%', '&', '|', '^', '@', ':':
			return 2
		}
	}
	if c == '-' && c1 == '>' {
		return 2
	}
	return 1
}

func isNameStart(c byte) bool {
	return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') || c >= 0x80
}

func isNameChar(c byte) bool {
	return isNameStart(c) || (c >= '0' && c <= '9')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// stringStart reports whether s[i:] starts a string literal (with an
// optional prefix of up to two letters from rRbBuUfF) and returns the offset
// of the opening quote.
func stringStart(s string, i int) (int, bool) {
	j := i
	for k := 0; k < 2 && j < len(s); k++ {
		switch s[j] {
		case 'r', 'R', 'b', 'B', 'u', 'U', 'f', 'F':
			j++
			continue
		}
		break
	}
	if j < len(s) && (s[j] == '\'' || s[j] == '"') {
		return j, true
	}
	return 0, false
}

// skipString returns the end of the string literal whose opening quote is at q.
func skipString(s string, q int) int {
	quote := s[q]
	if q+2 < len(s) && s[q+1] == quote && s[q+2] == quote {
		for i := q + 3; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case quote:
				if i+2 < len(s) && s[i+1] == quote && s[i+2] == quote {
					return i + 3
				}
			}
		}
		return len(s)
	}
	for i := q + 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case quote:
			return i + 1
		case '\n':
			return i // unterminated: stop at the line end
		}
	}
	return len(s)
}

// skipNumber returns the end of the numeric literal starting at i.
func skipNumber(s string, i int) int {
	for i < len(s) {
		c := s[i]
		switch {
		case isDigit(c) || c == '_' || c == '.':
			i++
		case c == 'e' || c == 'E':
			i++
			if i < len(s) && (s[i] == '+' || s[i] == '-') && i+1 < len(s) && isDigit(s[i+1]) {
				i++
			}
		case c|0x20 >= 'a' && c|0x20 <= 'z': // 0x1F, 1j, 0o17, 0b10
			i++
		default:
			return i
		}
	}
	return i
}

// Tokenize appends the tokens of src to dst.
func Tokenize(dst []Token, src string) []Token {
	depth := 0
	lineHasTokens := false
	i := 0
	n := len(src)
	emit := func(k Kind, a, b int) {
		dst = append(dst, Token{Kind: k, Start: int32(a), End: int32(b)})
		lineHasTokens = true
	}
	for i < n {
		c := src[i]
		switch {
		case c == '\n':
			if depth == 0 && lineHasTokens {
				dst = append(dst, Token{Kind: Newline, Start: int32(i), End: int32(i + 1)})
				lineHasTokens = false
			}
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#':
			for i < n && src[i] != '\n' {
				i++
			}
		case c == '\\' && i+1 < n && (src[i+1] == '\n' || src[i+1] == '\r'):
			i += 2
			if i < n && src[i-1] == '\r' && src[i] == '\n' {
				i++
			}
		case isDigit(c) || (c == '.' && i+1 < n && isDigit(src[i+1])):
			j := skipNumber(src, i)
			emit(Number, i, j)
			i = j
		case isNameStart(c):
			if q, ok := stringStart(src, i); ok {
				j := skipString(src, q)
				emit(String, i, j)
				i = j
				continue
			}
			j := i + 1
			for j < n && isNameChar(src[j]) {
				j++
			}
			emit(Name, i, j)
			i = j
		case c == '\'' || c == '"':
			j := skipString(src, i)
			emit(String, i, j)
			i = j
		default:
			l := opLen(src, i)
			switch c {
			case '(', '[', '{':
				depth++
			case ')', ']', '}':
				if depth > 0 {
					depth--
				}
			}
			emit(Op, i, i+l)
			i += l
		}
	}
	if lineHasTokens {
		dst = append(dst, Token{Kind: Newline, Start: int32(n), End: int32(n)})
	}
	return dst
}

// Keywords are Python's keywords and soft keywords.
var Keywords = []string{
	"False", "None", "True", "and", "as", "assert", "async", "await", "break",
	"class", "continue", "def", "del", "elif", "else", "except", "finally",
	"for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
	"not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
	"match", "case",
}

// Builtins are Python builtins whose names carry meaning.
var Builtins = []string{
	"abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes",
	"callable", "chr", "complex", "dict", "divmod", "enumerate", "eval",
	"exec", "filter", "float", "format", "frozenset", "getattr", "hasattr",
	"hash", "hex", "id", "input", "int", "isinstance", "issubclass", "iter",
	"len", "list", "map", "max", "min", "next", "object", "oct", "open", "ord",
	"pow", "print", "range", "repr", "reversed", "round", "set", "setattr",
	"slice", "sorted", "str", "sum", "super", "tuple", "type", "vars", "zip",
	"Exception", "ValueError", "TypeError", "ZeroDivisionError", "self", "cls",
}
