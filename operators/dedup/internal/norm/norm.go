// Package norm normalises dedup keys before they are hashed.
package norm

import (
	"unicode"
	"unicode/utf8"

	"github.com/caco-dev/caco/operators/dedup/internal/pytok"
)

// Mode is a normalisation.
type Mode uint8

const (
	None       Mode = iota // the key as is
	Whitespace             // runs of whitespace become one space; ends trimmed
	Code                   // Python tokens one space apart, one logical line per line: no comments, blank lines or indentation
	Text                   // lower case; punctuation and symbols become spaces; whitespace collapsed
)

// Modes maps the recipe names to modes.
var Modes = map[string]Mode{"none": None, "whitespace": Whitespace, "code": Code, "text": Text}

// Normalizer holds scratch space; use one per goroutine.
type Normalizer struct {
	Mode           Mode
	ReplaceNumbers bool
	toks           []pytok.Token
}

// Append appends the normalised form of s to dst.
func (z *Normalizer) Append(dst []byte, s string) []byte {
	switch z.Mode {
	case Whitespace:
		return appendCollapsed(dst, s, z.ReplaceNumbers, false)
	case Text:
		return appendCollapsed(dst, s, z.ReplaceNumbers, true)
	case Code:
		z.toks = pytok.Tokenize(z.toks[:0], s)
		lineStart := true
		for _, t := range z.toks {
			if t.Kind == pytok.Newline {
				if !lineStart {
					dst = append(dst, '\n')
				}
				lineStart = true
				continue
			}
			if !lineStart {
				dst = append(dst, ' ')
			}
			lineStart = false
			if t.Kind == pytok.Number && z.ReplaceNumbers {
				dst = append(dst, '0')
				continue
			}
			dst = append(dst, s[t.Start:t.End]...)
		}
		if n := len(dst); n > 0 && dst[n-1] == '\n' {
			dst = dst[:n-1]
		}
		return dst
	}
	if !z.ReplaceNumbers {
		return append(dst, s...)
	}
	for i := 0; i < len(s); {
		if isNumberStart(s, i) {
			dst = append(dst, '0')
			i = numberEnd(s, i)
			continue
		}
		dst = append(dst, s[i])
		i++
	}
	return dst
}

func isIdentByte(c byte) bool {
	return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') || (c >= '0' && c <= '9') || c >= 0x80
}

// isNumberStart reports whether a number starts at s[i]: a digit that does
// not continue an identifier (x1) or another number.
func isNumberStart[T string | []byte](s T, i int) bool {
	c := s[i]
	if c < '0' || c > '9' {
		return false
	}
	return i == 0 || !(isIdentByte(s[i-1]) || s[i-1] == '.')
}

// numberEnd returns the end of the number starting at s[i]: digits with
// inner dots, underscores and commas between digits, an exponent, and
// letter suffixes such as 0x1F or 1j.
func numberEnd[T string | []byte](s T, i int) int {
	for i < len(s) {
		c := s[i]
		switch {
		case c >= '0' && c <= '9' || c == '_':
			i++
		case (c == '.' || c == ',') && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			i++
		case c == 'e' || c == 'E':
			if i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
				i++
			} else if i+2 < len(s) && (s[i+1] == '+' || s[i+1] == '-') && s[i+2] >= '0' && s[i+2] <= '9' {
				i += 2
			} else {
				return i + 1
			}
		case c|0x20 >= 'a' && c|0x20 <= 'z':
			i++
		default:
			return i
		}
	}
	return i
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isASCIIPunct(c byte) bool {
	return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~')
}

// appendCollapsed collapses whitespace (and, for text, punctuation and case).
func appendCollapsed(dst []byte, s string, replaceNumbers, text bool) []byte {
	pendingSpace := false
	start := len(dst)
	for i := 0; i < len(s); {
		c := s[i]
		if replaceNumbers && isNumberStart(s, i) {
			if pendingSpace && len(dst) > start {
				dst = append(dst, ' ')
			}
			pendingSpace = false
			dst = append(dst, '0')
			i = numberEnd(s, i)
			continue
		}
		if c < utf8.RuneSelf {
			i++
			if isSpace(c) || (text && isASCIIPunct(c)) {
				pendingSpace = true
				continue
			}
			if text && c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if pendingSpace && len(dst) > start {
				dst = append(dst, ' ')
			}
			pendingSpace = false
			dst = append(dst, c)
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if unicode.IsSpace(r) || (text && (unicode.IsPunct(r) || unicode.IsSymbol(r))) {
			pendingSpace = true
			continue
		}
		if pendingSpace && len(dst) > start {
			dst = append(dst, ' ')
		}
		pendingSpace = false
		if text {
			r = unicode.ToLower(r)
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// NumbersHash returns an order-independent hash of the multiset of numbers
// in b (0 when there are none). Rows whose numbers differ are different
// problems unless numbers are replaced.
func NumbersHash(b []byte) uint32 {
	var sum uint64
	for i := 0; i < len(b); {
		if !isNumberStart(b, i) {
			i++
			continue
		}
		j := numberEnd(b, i)
		h := uint64(14695981039346656037)
		for _, c := range b[i:j] {
			h ^= uint64(c)
			h *= 1099511628211
		}
		sum += Mix64(h)
		i = j
	}
	return uint32(sum>>32) ^ uint32(sum)
}

// Mix64 is a 64-bit finaliser (murmur3 fmix64).
func Mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
