package minhash

import (
	"testing"

	"github.com/caco-dev/caco/operators/dedup/internal/gen"
	"github.com/caco-dev/caco/operators/dedup/internal/norm"
)

func benchRows(n int) []string {
	g := gen.New(7)
	out := make([]string, n)
	for i := range out {
		out[i] = g.Program().Render()
	}
	return out
}

func benchmarkSign(b *testing.B, mode norm.Mode, sh Shingle) {
	rows := benchRows(1024)
	z := norm.Normalizer{Mode: mode}
	h := Hasher{Perms: NewPerms(128), Shingle: sh, NGram: 5}
	sig := make([]uint32, 128)
	var buf []byte
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = z.Append(buf[:0], rows[i%len(rows)])
		h.Sign(sig, h.Shingles(buf))
	}
}

func BenchmarkSignCode(b *testing.B) { benchmarkSign(b, norm.Code, Code) }
func BenchmarkSignWord(b *testing.B) { benchmarkSign(b, norm.Whitespace, Word) }
func BenchmarkSignChar(b *testing.B) { benchmarkSign(b, norm.None, Char) }

func BenchmarkShinglesCode(b *testing.B) {
	rows := benchRows(1024)
	z := norm.Normalizer{Mode: norm.Code}
	h := Hasher{Perms: NewPerms(128), Shingle: Code, NGram: 5}
	var buf []byte
	n := 0
	for i := 0; i < b.N; i++ {
		buf = z.Append(buf[:0], rows[i%len(rows)])
		n += len(h.Shingles(buf))
	}
	b.ReportMetric(float64(n)/float64(b.N), "shingles/row")
}
