// Package minhash turns normalised keys into shingle sets and MinHash
// signatures, and signatures into LSH band keys.
//
// Permutations are the multiply-add-shift family h_j(x) = (a_j*x + b_j) >> 32
// over 64-bit shingle hashes, with fixed coefficients drawn from a seeded
// generator, so signatures are identical across runs, machines and shards.
package minhash

import (
	"math"
	"math/bits"
	"unsafe"

	"github.com/caco-dev/caco/operators/dedup/internal/norm"
	"github.com/caco-dev/caco/operators/dedup/internal/pytok"
)

// Shingle is how a key is cut into shingles.
type Shingle uint8

const (
	Word Shingle = iota // n-grams of whitespace-separated words
	Char                // n-grams of characters (runes)
	Code                // n-grams of Python tokens, identifiers abstracted
)

// Shingles maps the recipe names to shingle kinds.
var Shingles = map[string]Shingle{"word": Word, "char": Char, "code": Code}

// Seed fixes the permutations. Changing it invalidates every stored index.
const Seed = 0x6361636f64656470 // "cacodedp"

// Perms are the permutation coefficients, shared read-only.
type Perms struct {
	A, B []uint64
}

// NewPerms draws n permutations from Seed.
func NewPerms(n int) *Perms {
	p := &Perms{A: make([]uint64, n), B: make([]uint64, n)}
	s := uint64(Seed)
	next := func() uint64 { // splitmix64
		s += 0x9e3779b97f4a7c15
		z := s
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return z ^ (z >> 31)
	}
	for i := 0; i < n; i++ {
		p.A[i] = next() | 1
		p.B[i] = next()
	}
	return p
}

// Hasher computes shingles and signatures; use one per goroutine.
type Hasher struct {
	Perms   *Perms
	Shingle Shingle
	NGram   int

	toks     []pytok.Token
	th       []uint64
	shingles []uint64
	imported []string
}

var (
	keepNames   = map[string]struct{}{}
	placeholder = hashString("\x00ID")
	newlineHash = hashString("\x00NL")
)

func init() {
	for _, k := range pytok.Keywords {
		keepNames[k] = struct{}{}
	}
	for _, k := range pytok.Builtins {
		keepNames[k] = struct{}{}
	}
}

func hashString[T string | []byte](s T) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return norm.Mix64(h)
}

// Shingles returns the distinct-enough shingle hashes of text (repeats are
// possible; MinHash ignores them). The slice is reused by the next call.
func (h *Hasher) Shingles(text []byte) []uint64 {
	h.th = h.th[:0]
	switch h.Shingle {
	case Word:
		for i := 0; i < len(text); {
			for i < len(text) && isSpace(text[i]) {
				i++
			}
			j := i
			for j < len(text) && !isSpace(text[j]) {
				j++
			}
			if j > i {
				h.th = append(h.th, hashString(text[i:j]))
			}
			i = j
		}
	case Char:
		return h.charShingles(text)
	case Code:
		h.codeTokens(text)
	}
	return h.combine()
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// combine hashes each window of NGram token hashes into a shingle hash; a
// key with fewer tokens is one shingle.
func (h *Hasher) combine() []uint64 {
	h.shingles = h.shingles[:0]
	n := h.NGram
	m := len(h.th)
	if m == 0 {
		return h.shingles
	}
	if m < n {
		n = m
	}
	for i := 0; i+n <= m; i++ {
		x := uint64(n)
		for _, t := range h.th[i : i+n] {
			x = bits.RotateLeft64(x, 23) ^ t
			x *= 0x9e3779b97f4a7c15
		}
		h.shingles = append(h.shingles, norm.Mix64(x))
	}
	return h.shingles
}

func (h *Hasher) charShingles(text []byte) []uint64 {
	h.shingles = h.shingles[:0]
	n := h.NGram
	// Offsets of the first n runes ahead of each start, computed as we go.
	starts := h.th[:0] // reuse as an offset buffer
	for i := 0; i < len(text); {
		starts = append(starts, uint64(i))
		c := text[i]
		switch {
		case c < 0x80:
			i++
		case c < 0xE0:
			i += 2
		case c < 0xF0:
			i += 3
		default:
			i += 4
		}
	}
	if len(starts) == 0 {
		h.th = starts
		return h.shingles
	}
	starts = append(starts, uint64(len(text)))
	runes := len(starts) - 1
	if runes < n {
		n = runes
	}
	for i := 0; i+n <= runes; i++ {
		end := starts[i+n]
		if end > uint64(len(text)) {
			end = uint64(len(text))
		}
		h.shingles = append(h.shingles, hashString(text[starts[i]:end]))
	}
	h.th = starts
	return h.shingles
}

// codeTokens hashes the Python tokens of text into h.th. Identifiers become
// one placeholder, except keywords, common builtins, attribute names (after
// a dot) and names on import lines, so consistently renamed variables do not
// change the stream while calls such as math.sqrt versus math.log do.
func (h *Hasher) codeTokens(text []byte) {
	if len(text) == 0 {
		return
	}
	src := unsafe.String(&text[0], len(text))
	h.toks = pytok.Tokenize(h.toks[:0], src)
	h.imported = h.imported[:0]
	lineStart := true
	importLine := false
	for _, t := range h.toks {
		if t.Kind == pytok.Newline {
			lineStart, importLine = true, false
			continue
		}
		if lineStart && t.Kind == pytok.Name {
			w := src[t.Start:t.End]
			importLine = w == "import" || w == "from"
		}
		lineStart = false
		if importLine && t.Kind == pytok.Name {
			h.imported = append(h.imported, src[t.Start:t.End])
		}
	}
	prevDot := false
	for _, t := range h.toks {
		w := src[t.Start:t.End]
		switch t.Kind {
		case pytok.Newline:
			h.th = append(h.th, newlineHash)
		case pytok.Name:
			if prevDot || h.keep(w) {
				h.th = append(h.th, hashString(w))
			} else {
				h.th = append(h.th, placeholder)
			}
		default:
			h.th = append(h.th, hashString(w))
		}
		prevDot = t.Kind == pytok.Op && w == "."
	}
}

func (h *Hasher) keep(w string) bool {
	if _, ok := keepNames[w]; ok {
		return true
	}
	for _, m := range h.imported {
		if m == w {
			return true
		}
	}
	return false
}

// Sign writes the MinHash signature of shingles into sig (len(sig) <=
// len(Perms.A)). An empty set gives all MaxUint32.
func (h *Hasher) Sign(sig []uint32, shingles []uint64) {
	Sign(h.Perms, sig, shingles)
}

// Sign writes the MinHash signature of shingles into sig.
func Sign(p *Perms, sig []uint32, shingles []uint64) {
	for j := range sig {
		sig[j] = math.MaxUint32
	}
	a := p.A[:len(sig)]
	b := p.B[:len(sig)]
	i := 0
	// Four shingles at a time: four independent multiplies per load of a
	// permutation, one store.
	for ; i+4 <= len(shingles); i += 4 {
		x0, x1, x2, x3 := shingles[i], shingles[i+1], shingles[i+2], shingles[i+3]
		for j := range sig {
			aj, bj := a[j], b[j]
			m := sig[j]
			m = min(m, uint32((aj*x0+bj)>>32), uint32((aj*x1+bj)>>32))
			m = min(m, uint32((aj*x2+bj)>>32), uint32((aj*x3+bj)>>32))
			sig[j] = m
		}
	}
	for ; i < len(shingles); i++ {
		x := shingles[i]
		for j := range sig {
			sig[j] = min(sig[j], uint32((a[j]*x+b[j])>>32))
		}
	}
}

// BandKeys writes one 32-bit key per band: a hash of the band's rows of sig
// and of gate (rows whose gates differ never share a key).
func BandKeys(keys []uint32, sig []uint32, rows int, gate uint32) {
	for bi := range keys {
		x := uint64(bi+1)*0x9e3779b97f4a7c15 ^ uint64(gate)
		for _, v := range sig[bi*rows : (bi+1)*rows] {
			x = bits.RotateLeft64(x^uint64(v), 27) * 0xff51afd7ed558ccd
		}
		keys[bi] = uint32(norm.Mix64(x) >> 32)
	}
}

// Low16 writes the low 16 bits of each signature value: what the index
// keeps to confirm candidates (b-bit MinHash).
func Low16(dst []uint16, sig []uint32) {
	for j, v := range sig {
		dst[j] = uint16(v)
	}
}
