package generate_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/operators/generate/llmtest"
)

// BenchmarkGenerate measures the generate step against the test server in
// the same process: b.N rows (one request each, unique prompts, response
// cache on) in one batch, with the model's concurrency at 64. It reports
// requests per second and, with latency, the fraction of the ideal
// 64 / latency.
//
//	go test ./operators/generate -run '^$' -bench Generate -benchtime 4000x
func BenchmarkGenerate(b *testing.B) {
	for _, tc := range []struct {
		name    string
		latency time.Duration
		cache   bool
	}{
		{"latency=50ms", 50 * time.Millisecond, true},
		{"latency=0", 0, true},
		{"latency=0/nocache", 0, false},
	} {
		b.Run(tc.name, func(b *testing.B) { benchGenerate(b, tc.latency, tc.cache) })
	}
}

var benchRun int

func benchGenerate(b *testing.B, latency time.Duration, cache bool) {
	const conc = 64
	srv := startLLM(b, llmtest.Config{Latency: latency})
	cfg := "model: m\nprompt: 'Q{{.id}}: {{.question}}'\ntemperature: 0\nmax_tokens: 64\n"
	if !cache {
		cfg += "cache: false\n"
	}
	p := mustPlan(b, model(srv.URL(), "completions", fmt.Sprintf("concurrency: %d", conc), "timeout: 30s"), cfg, inSchema)
	mem := memory.NewGoAllocator()
	rc := p.runCtx(b, mem)
	if err := p.step.(op.Opener).Open(bg, rc); err != nil {
		b.Fatal(err)
	}
	benchRun++
	var sb strings.Builder
	for i := 0; i < b.N; i++ {
		fmt.Fprintf(&sb, "{\"id\": %d, \"question\": \"benchmark %d question %d\"}\n", i, benchRun, i)
	}
	rec := optest.Record(b, mem, inSchema, sb.String())
	defer rec.Release()
	b.ResetTimer()
	start := time.Now()
	res, err := p.step.(op.Processor).Process(bg, op.Batch{Record: rec, Alloc: mem})
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Record == nil || res.Record.NumRows() != int64(b.N) {
		b.Fatalf("rows out %v, rejects %d", res.Record, len(res.Rejects))
	}
	res.Record.Release()
	if n := srv.Stats().Requests; n != int64(b.N) {
		b.Fatalf("the server saw %d requests for %d rows", n, b.N)
	}
	rps := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rps, "req/s")
	if latency > 0 {
		b.ReportMetric(rps/(conc/latency.Seconds()), "of_ideal")
	}
	b.ReportMetric(float64(srv.Stats().MaxInFlight), "max_in_flight")
}
