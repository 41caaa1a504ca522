package load_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
)

// WriteBenchJSONL writes n rows shaped like seed data (ints, floats, short
// and long strings, a list, an object) to path.
func writeBenchJSONL(tb testing.TB, path string, n int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := 0; i < n; i++ {
		status := "ok"
		if i%10 == 0 {
			status = "error"
		}
		fmt.Fprintf(w, `{"id": %d, "question": "Question %d: what is the sum of the first %d primes?", "code": "def f(n):\n    return sum(range(%d))\nprint(f(10))", "status": %q, "score": %d.25, "tags": ["math", "gen-%d"], "meta": {"src": "synthetic", "seed": %d}}`+"\n",
			i, i, i%100, i, status, i%7, i%5, i)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
}

// BenchmarkJSONLParse measures load's JSONL throughput (rows/s) over a
// 200k-row file with all cores parsing.
func BenchmarkJSONLParse(b *testing.B) {
	const rows = 200_000
	path := filepath.Join(b.TempDir(), "bench.jsonl")
	writeBenchJSONL(b, path, rows)
	st, _ := os.Stat(path)
	p, _ := optest.Plan(b, "load", "path: "+path, nil)
	rc := optest.NewRunContext(b, memory.DefaultAllocator)
	rc.NWorker = runtime.GOMAXPROCS(0)
	if err := p.(op.Opener).Open(context.Background(), rc); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		err := p.(op.Source).Read(context.Background(), nil, func(_ uint64, rec arrow.Record, rj []op.Reject) error {
			n += int(rec.NumRows())
			rec.Release()
			return nil
		})
		if err != nil || n != rows {
			b.Fatalf("%v, %d rows", err, n)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
