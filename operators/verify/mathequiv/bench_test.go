package mathequiv

import "testing"

// Fast-path benchmarks: each iteration is one full comparison of two raw
// strings (normalise, parse and compare both sides), as consistency does.
//
//	go test -run '^$' -bench . -benchtime 2s -cpu 1 ./operators/verify/mathequiv/

var benchNumeric = [][2]string{
	{"42", "42"}, {"42", "43"}, {"3.5", "3.50"}, {"-17", "-17.0"}, {"0.5", "0.25"},
	{"1000000", "1,000,000"}, {"12345", "12346"}, {"2.718", "2.71828"},
}

var benchLatex = [][2]string{
	{`\frac{1}{2}`, "0.5"}, {`\dfrac{3}{4}`, `\frac{6}{8}`}, {`2\sqrt{2}`, `\sqrt{8}`}, {`\pi`, "3.14159"},
	{`50\%`, "0.5"}, {`(1, \frac{1}{2})`, "(1, 0.5)"}, {`3\frac{1}{2}`, `\frac{7}{2}`}, {`x = \frac{\sqrt{3}}{2}`, "0.866"},
}

func benchPairs(b *testing.B, pairs [][2]string) {
	b.ReportAllocs()
	opts := Options{}
	for i := 0; i < b.N; i++ {
		p := pairs[i%len(pairs)]
		Equal(p[0], p[1], opts)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmp/s")
}

func BenchmarkEqualNumeric(b *testing.B) { benchPairs(b, benchNumeric) }
func BenchmarkEqualLatex(b *testing.B)   { benchPairs(b, benchLatex) }

// BenchmarkCompareParsed compares answers parsed once (as vote does).
func BenchmarkCompareParsed(b *testing.B) {
	var as, bs []*Answer
	for _, p := range append(append([][2]string{}, benchNumeric...), benchLatex...) {
		as = append(as, Parse(p[0]))
		bs = append(bs, Parse(p[1]))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(as)
		Compare(as[k], bs[k], Options{})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmp/s")
}

// BenchmarkPairs232 runs the workload of `cacobench verify`: the 232-pair
// table of 7e8d7ab, raw strings on both sides.
func BenchmarkPairs232(b *testing.B) {
	pairs := make([][2]string, len(pairCases))
	for i, c := range pairCases {
		pairs[i] = [2]string{c.a, c.b}
	}
	benchPairs(b, pairs)
}
