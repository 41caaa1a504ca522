// Command dedupbench measures the dedup operator on generated Python
// programs (~650 bytes each): signature throughput per core, whole-operator
// throughput, and peak RSS.
//
//	go build -o /tmp/dedupbench ./operators/dedup/cmd/dedupbench
//	/usr/bin/time -v /tmp/dedupbench -rows 1000000
//
// Phase 1 (skipped with -sig 0) hashes -sig rows on one goroutine and
// reports rows/s per core for normalise + shingle + MinHash + band keys.
// Phase 2 drives the operator (Plan, Open, Process and Delta per batch, as
// the engine does) over -rows rows generated batch by batch, of which -dup
// are variants of recent rows (renamed, recommented, reordered, or with a
// changed constant); only Process and Delta are timed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/operators/dedup"
	"github.com/caco-dev/caco/operators/dedup/internal/gen"
	"github.com/caco-dev/caco/operators/dedup/internal/minhash"
	"github.com/caco-dev/caco/operators/dedup/internal/norm"
)

func main() {
	rows := flag.Int("rows", 1_000_000, "rows through the whole operator (0 skips phase 2)")
	sigRows := flag.Int("sig", 100_000, "rows for the single-core signature measurement (0 skips phase 1)")
	batch := flag.Int("batch", 4096, "rows per batch")
	dupFrac := flag.Float64("dup", 0.1, "fraction of rows that are variants of recent rows")
	method := flag.String("method", "minhash", "exact or minhash")
	normalize := flag.String("normalize", "code", "none, whitespace, code or text")
	shingle := flag.String("shingle", "code", "word, char or code")
	numPerm := flag.Int("num_perm", 128, "permutations")
	deltas := flag.Bool("keep-deltas", false, "keep the deltas in memory as a checkpoint store would (counts toward RSS)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of phase 2")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dedupbench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "dedupbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}

	fmt.Printf("GOMAXPROCS=%d NumCPU=%d config: method=%s normalize=%s shingle=%s num_perm=%d\n",
		runtime.GOMAXPROCS(0), runtime.NumCPU(), *method, *normalize, *shingle, *numPerm)
	if *sigRows > 0 {
		signatures(*sigRows, *normalize, *shingle, *numPerm)
	}
	if *rows > 0 {
		if err := whole(*rows, *batch, *dupFrac, *method, *normalize, *shingle, *numPerm, *deltas); err != nil {
			fmt.Fprintln(os.Stderr, "dedupbench:", err)
			pprof.StopCPUProfile()
			os.Exit(1)
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		fmt.Printf("peak RSS (getrusage maxrss): %.0f MiB\n", float64(ru.Maxrss)/1024)
	}
}

func signatures(n int, normalize, shingle string, numPerm int) {
	g := gen.New(1)
	texts := make([]string, n)
	bytes := 0
	for i := range texts {
		texts[i] = g.Program().Render()
		bytes += len(texts[i])
	}
	z := norm.Normalizer{Mode: norm.Modes[normalize]}
	h := minhash.Hasher{Perms: minhash.NewPerms(numPerm), Shingle: minhash.Shingles[shingle], NGram: 5}
	bands, rows := minhash.OptimalBands(0.8, numPerm, dedup.DefaultFPWeight, 1-dedup.DefaultFPWeight)
	sig := make([]uint32, numPerm)
	keys := make([]uint32, bands)
	var buf []byte
	shingles := 0
	start := time.Now()
	for _, s := range texts {
		buf = z.Append(buf[:0], s)
		gate := norm.NumbersHash(buf)
		sh := h.Shingles(buf)
		shingles += len(sh)
		h.Sign(sig, sh)
		minhash.BandKeys(keys, sig, rows, gate)
	}
	el := time.Since(start)
	fmt.Printf("signatures: %d rows (avg %d bytes, %d shingles) on 1 goroutine in %v: %.0f rows/s per core\n",
		n, bytes/n, shingles/n, el.Round(time.Millisecond), float64(n)/el.Seconds())
}

// planContext is the minimal PlanContext a benchmark needs.
type planContext struct{ errs []string }

func (p *planContext) Step() string { return "dedup" }
func (p *planContext) Errorf(field, format string, args ...any) {
	p.errs = append(p.errs, field+": "+fmt.Sprintf(format, args...))
}
func (p *planContext) ErrorAt(field string, _, _ int, format string, args ...any) {
	p.Errorf(field, format, args...)
}
func (p *planContext) Warnf(string, string, ...any)                    {}
func (p *planContext) Has(string) bool                                 { return false }
func (p *planContext) RecipeDir() string                               { return "" }
func (p *planContext) Model(string) (*op.ModelConfig, bool)            { return nil, false }
func (p *planContext) ModelNames() []string                            { return nil }
func (rc *runContext) Step() string                                    { return "dedup" }
func (rc *runContext) RunDir() string                                  { return os.TempDir() }
func (rc *runContext) StepDir() string                                 { return os.TempDir() }
func (rc *runContext) Alloc() memory.Allocator                         { return rc.mem }
func (rc *runContext) Logf(f string, a ...any)                         { fmt.Printf(f+"\n", a...) }
func (rc *runContext) Shared(string, func() (any, error)) (any, error) { return nil, nil }
func (rc *runContext) Model(string) (*op.ModelConfig, bool)            { return nil, false }
func (rc *runContext) Shard() (int, int)                               { return 0, 1 }
func (rc *runContext) Workers() int                                    { return 1 }
func (rc *runContext) Flag(string) string                              { return "" }

type runContext struct{ mem memory.Allocator }

func whole(n, batch int, dupFrac float64, method, normalize, shingle string, numPerm int, keepDeltas bool) error {
	sc := arrow.NewSchema([]arrow.Field{op.MustField("id", op.TypeString), op.MustField("code", op.TypeString)}, nil)
	d := &dedup.Dedup{Key: "code", ID: "id", Method: method, Normalize: normalize, Shingle: shingle, NumPerm: numPerm}
	pc := &planContext{}
	if d.Plan(pc, sc) == nil {
		return fmt.Errorf("plan: %v", pc.errs)
	}
	b, r := d.LSHShape()
	fmt.Printf("operator: %d rows in batches of %d, %.0f%% variants of recent rows; bands=%d rows=%d\n", n, batch, dupFrac*100, b, r)
	mem := memory.NewGoAllocator()
	ctx := context.Background()
	if err := d.Open(ctx, &runContext{mem: mem}); err != nil {
		return err
	}
	g := gen.New(2)
	rnd := g.Rand()
	recent := make([]*gen.Program, 0, 1024)
	var busy time.Duration
	var dropped, deltaBytes int64
	var stored [][]byte
	ids := array.NewStringBuilder(mem)
	codes := array.NewStringBuilder(mem)
	idBuf := make([]byte, 0, 16)
	for seq, done := 0, 0; done < n; seq++ {
		m := min(batch, n-done)
		for i := 0; i < m; i++ {
			var p *gen.Program
			if len(recent) > 0 && rnd.Float64() < dupFrac {
				base := recent[rnd.IntN(len(recent))]
				switch rnd.IntN(4) {
				case 0:
					p = g.Rename(base)
				case 1:
					p = g.Recomment(base)
				case 2:
					p = g.Reorder(base)
				default:
					p = g.Reconst(base)
				}
			} else {
				p = g.Program()
				if len(recent) < cap(recent) {
					recent = append(recent, p)
				} else {
					recent[rnd.IntN(len(recent))] = p
				}
			}
			idBuf = strconv.AppendInt(append(idBuf[:0], 'r'), int64(done+i), 10)
			ids.BinaryBuilder.Append(idBuf)
			codes.Append(p.Render())
		}
		ia, ca := ids.NewArray(), codes.NewArray()
		rec := array.NewRecord(sc, []arrow.Array{ia, ca}, int64(m))
		ia.Release()
		ca.Release()
		start := time.Now()
		res, err := d.Process(ctx, op.Batch{Seq: uint64(seq), Record: rec, Alloc: mem})
		if err != nil {
			return err
		}
		delta, err := d.Delta()
		if err != nil {
			return err
		}
		busy += time.Since(start)
		deltaBytes += int64(len(delta))
		if keepDeltas {
			stored = append(stored, delta)
		}
		dropped += int64(len(res.Rejects))
		res.Record.Release()
		rec.Release()
		done += m
		if seq%50 == 0 {
			fmt.Printf("  %d rows, %.0f rows/s so far\n", done, float64(done)/busy.Seconds())
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("whole operator: %d rows in %v of Process+Delta: %.0f rows/s (%.0f rows/s per core over %d cores); %d dropped\n",
		n, busy.Round(time.Millisecond), float64(n)/busy.Seconds(), float64(n)/busy.Seconds()/float64(runtime.GOMAXPROCS(0)), runtime.GOMAXPROCS(0), dropped)
	fmt.Printf("index: %d rows, ~%.0f MiB (%.0f bytes/row); deltas %.0f MiB (%.0f bytes per kept row); Go heap in use %.0f MiB, sys %.0f MiB\n",
		d.IndexedRows(), float64(d.IndexBytes())/(1<<20), float64(d.IndexBytes())/float64(d.IndexedRows()),
		float64(deltaBytes)/(1<<20), float64(deltaBytes)/float64(d.IndexedRows()), float64(ms.HeapInuse)/(1<<20), float64(ms.Sys)/(1<<20))
	runtime.KeepAlive(stored)
	return nil
}
