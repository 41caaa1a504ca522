package write_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
)

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

// loadAll reads a JSONL file into records with the load operator.
func loadAll(tb testing.TB, path string) (*arrow.Schema, []arrow.Record) {
	p, sc := optest.Plan(tb, "load", "path: "+path, nil)
	var recs []arrow.Record
	err := p.(op.Source).Read(context.Background(), nil, func(_ uint64, rec arrow.Record, _ []op.Reject) error {
		recs = append(recs, rec)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return sc, recs
}

// BenchmarkParquetWrite measures write's Parquet (zstd) throughput in rows/s
// over 200k rows held in memory.
func BenchmarkParquetWrite(b *testing.B) {
	const rows = 200_000
	dir := b.TempDir()
	writeBenchJSONL(b, filepath.Join(dir, "in.jsonl"), rows)
	sc, recs := loadAll(b, filepath.Join(dir, "in.jsonl"))
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	out := filepath.Join(dir, "out.parquet")
	b.ResetTimer()
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		p, _ := optest.Plan(b, "write", "path: "+out, sc)
		if err := p.(op.Opener).Open(ctx, optest.NewRunContext(b, memory.DefaultAllocator)); err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			res, err := p.(op.Processor).Process(ctx, op.Batch{Record: r, Alloc: memory.DefaultAllocator})
			if err != nil {
				b.Fatal(err)
			}
			res.Record.Release()
		}
		if _, err := p.(op.Finisher).Finish(ctx, memory.DefaultAllocator); err != nil {
			b.Fatal(err)
		}
		p.(op.Closer).Close()
	}
	b.StopTimer()
	st, _ := os.Stat(out)
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(st.Size())/float64(rows), "bytes/row")
}

// BenchmarkLoadFilterWrite streams CACO_BENCH_ROWS (default 1,000,000)
// generated JSONL rows through load → a filter (op.Filter on status) →
// write Parquet, without the engine, and reports rows/s and the process's
// peak RSS (which includes generating the file, streamed). Knobs:
// CACO_BENCH_FILTER=runs uses filterRuns instead of op.Filter;
// CACO_BENCH_WRITE adds YAML to the write step (e.g. "\ncompression: none");
// CACO_BENCH_NOWRITE=1 skips writing; CACO_BENCH_OUT keeps the output file.
func BenchmarkLoadFilterWrite(b *testing.B) {
	rows := 1_000_000
	if s := os.Getenv("CACO_BENCH_ROWS"); s != "" {
		rows, _ = strconv.Atoi(s)
	}
	dir := b.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	writeBenchJSONL(b, in, rows)
	out := filepath.Join(dir, "out.parquet")
	if o := os.Getenv("CACO_BENCH_OUT"); o != "" {
		out = o
	}
	alloc := memory.DefaultAllocator
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lp, sc := optest.Plan(b, "load", "path: "+in, nil)
		wp, _ := optest.Plan(b, "write", "path: "+out+os.Getenv("CACO_BENCH_WRITE"), sc)
		rc := optest.NewRunContext(b, alloc)
		rc.NWorker = runtime.GOMAXPROCS(0)
		ctx := context.Background()
		lp.(op.Opener).Open(ctx, rc)
		wp.(op.Opener).Open(ctx, rc)
		status := sc.FieldIndices("status")[0]
		n := 0
		err := lp.(op.Source).Read(ctx, nil, func(seq uint64, rec arrow.Record, _ []op.Reject) error {
			defer rec.Release()
			col := rec.Column(status).(*array.String)
			keep := make([]bool, rec.NumRows())
			for r := range keep {
				keep[r] = col.Value(r) == "ok"
			}
			filter := op.Filter
			if os.Getenv("CACO_BENCH_FILTER") == "runs" {
				filter = filterRuns
			}
			f, err := filter(alloc, rec, keep)
			if err != nil {
				return err
			}
			defer f.Release()
			if os.Getenv("CACO_BENCH_NOWRITE") != "" {
				n += int(f.NumRows())
				return nil
			}
			res, err := wp.(op.Processor).Process(ctx, op.Batch{Seq: seq, Record: f, Alloc: alloc})
			if err != nil {
				return err
			}
			n += int(res.Record.NumRows())
			res.Record.Release()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := wp.(op.Finisher).Finish(ctx, alloc); err != nil {
			b.Fatal(err)
		}
		wp.(op.Closer).Close()
		if n != rows*9/10 {
			b.Fatalf("%d rows out of %d", n, rows)
		}
	}
	b.StopTimer()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(ru.Maxrss)/1024, "peakRSS_MB")
}

// filterRuns is an alternative to op.Filter measured by
// BenchmarkLoadFilterWrite with CACO_BENCH_FILTER=runs: it concatenates
// slices of the kept runs of rows, which copies string data once.
func filterRuns(alloc memory.Allocator, rec arrow.Record, keep []bool) (arrow.Record, error) {
	var slices []arrow.Record
	defer func() {
		for _, s := range slices {
			s.Release()
		}
	}()
	var rows int64
	for i := 0; i < len(keep); {
		if !keep[i] {
			i++
			continue
		}
		j := i
		for j < len(keep) && keep[j] {
			j++
		}
		slices = append(slices, rec.NewSlice(int64(i), int64(j)))
		rows += int64(j - i)
		i = j
	}
	if len(slices) == 1 && rows == rec.NumRows() {
		rec.Retain()
		return rec, nil
	}
	cols := make([]arrow.Array, rec.NumCols())
	for c := range cols {
		parts := make([]arrow.Array, len(slices))
		for k, s := range slices {
			parts[k] = s.Column(c)
		}
		if len(parts) == 0 {
			cols[c] = array.MakeArrayOfNull(alloc, rec.Schema().Field(c).Type, 0)
		} else {
			a, err := array.Concatenate(parts, alloc)
			if err != nil {
				return nil, err
			}
			cols[c] = a
		}
		defer cols[c].Release()
	}
	return array.NewRecord(rec.Schema(), cols, rows), nil
}
