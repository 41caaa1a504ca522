package dedup_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/operators/dedup/internal/gen"
)

// BenchmarkProcess drives the operator over fresh batches of 4096 generated
// programs (10% variants of earlier ones); one op is one batch. For the 1M
// row figures and peak RSS use cmd/dedupbench.
func BenchmarkProcess(b *testing.B) {
	for _, cfg := range []string{
		"method: minhash\nnormalize: code\nshingle: code",
		"method: minhash\nnormalize: whitespace\nshingle: word",
		"method: exact\nnormalize: code",
	} {
		b.Run(cfg, func(b *testing.B) {
			const batch = 4096
			mem := memory.NewGoAllocator()
			p, _ := optest.Plan(b, "dedup", "key: code\nid: id\n"+cfg, codeSchema)
			ctx := context.Background()
			if err := p.(op.Opener).Open(ctx, optest.NewRunContext(b, mem)); err != nil {
				b.Fatal(err)
			}
			defer p.(op.Closer).Close()
			g := gen.New(9)
			var recent []*gen.Program
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				rows := make([]row, batch)
				for j := range rows {
					var q *gen.Program
					if len(recent) > 0 && g.Rand().IntN(10) == 0 {
						q = g.Rename(recent[g.Rand().IntN(len(recent))])
					} else {
						q = g.Program()
						if len(recent) < 1000 {
							recent = append(recent, q)
						}
					}
					rows[j] = row{fmt.Sprintf("r%d-%d", i, j), str(q.Render())}
				}
				rec := records(b, mem, rows, batch)[0]
				b.StartTimer()
				res, err := p.(op.Processor).Process(ctx, op.Batch{Seq: uint64(i), Record: rec, Alloc: mem})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.(op.Checkpointer).Delta(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				res.Record.Release()
				rec.Release()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
