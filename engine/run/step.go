package run

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/checkpoint"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/plan"
)

type stepRun struct {
	r     *runner
	node  *plan.Node
	spec  *op.Spec
	store *checkpoint.StepStore
	rc    *runContext
	ins   []chan flow
	outs  []chan flow
	stats *live
}

func (s *stepRun) closeOuts() {
	for _, c := range s.outs {
		close(c)
	}
}

// send hands rec to every consumer (each gets its own reference) and
// releases the caller's reference.
// A nil rec tells consumers that the batch exists but none of them needs
// its rows (each has its own output for it committed).
func (s *stepRun) send(ctx context.Context, seq uint64, rec arrow.Record) error {
	if rec != nil {
		defer rec.Release()
		s.stats.addOut(rec.NumRows())
	}
	for _, c := range s.outs {
		if rec != nil {
			rec.Retain()
		}
		select {
		case c <- flow{seq: seq, rec: rec}:
		case <-ctx.Done():
			if rec != nil {
				rec.Release()
			}
			return context.Cause(ctx)
		}
	}
	return nil
}

// sendHole tells every consumer that batch seq has rows waiting on a
// transient failure: it was not committed and has no rows.
func (s *stepRun) sendHole(ctx context.Context, seq uint64) error {
	for _, c := range s.outs {
		select {
		case c <- flow{seq: seq, hole: true}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// needed reports whether any consumer will process the rows of batch seq
// (rather than reuse its own committed output).
func (s *stepRun) needed(seq uint64) bool {
	for _, c := range s.node.Outputs {
		if _, done := s.r.byName[c.Name()].store.Done[seq]; !done {
			return true
		}
	}
	return false
}

func (s *stepRun) run(ctx context.Context) error {
	switch cfg := s.node.Step.Config.(type) {
	case op.Source:
		return s.runSource(ctx, cfg)
	case op.Processor:
		return s.runProcessor(ctx, cfg)
	}
	return fmt.Errorf("op %s is neither a source nor a processor", s.node.Step.Op)
}

func (s *stepRun) inShard(local uint64) bool {
	n := uint64(s.r.opts.ShardCount)
	return n <= 1 || local%n == uint64(s.r.opts.ShardIndex)
}

// runSource reads a source. Sources are not checkpointed: by contract they
// give the same batches every time, so only their counts and rejects are
// committed, and on resume they skip building batches no consumer needs.
func (s *stepRun) runSource(ctx context.Context, src op.Source) error {
	base := uint64(s.node.SourceIndex) << sourceShift
	want := func(local uint64) bool {
		return s.inShard(local) && s.needed(base+local)
	}
	emit := func(local uint64, rec arrow.Record, rejects []op.Reject) error {
		seq := base + local
		if !s.inShard(local) {
			if rec != nil {
				rec.Release()
			}
			return nil
		}
		if rec == nil {
			if s.needed(seq) {
				return fmt.Errorf("source skipped batch %d, which is needed", local)
			}
			if c, done := s.store.Done[seq]; done {
				s.stats.addResumed(c)
			}
			return s.send(ctx, seq, nil)
		}
		if err := ctx.Err(); err != nil {
			rec.Release()
			return context.Cause(ctx)
		}
		if err := s.checkSchema(rec); err != nil {
			rec.Release()
			return err
		}
		if c, done := s.store.Done[seq]; done {
			s.stats.addResumed(c)
			return s.send(ctx, seq, rec)
		}
		start := time.Now()
		c := &checkpoint.Commit{Seq: seq, RowsIn: rec.NumRows() + int64(len(rejects)), RowsOut: rec.NumRows()}
		if bc, ok := src.(op.BatchCounter); ok {
			c.Counters = bc.BatchCounters(local)
		}
		ledger := s.ledger(seq, nil, rejects, c)
		c.Seconds = time.Since(start).Seconds()
		if err := s.commit(c, nil, ledger); err != nil {
			rec.Release()
			return err
		}
		return s.send(ctx, seq, rec)
	}
	return src.Read(ctx, want, emit)
}

// reuse returns a committed batch's rows when a consumer needs them, else
// nil.
func (s *stepRun) reuse(seq uint64) (arrow.Record, error) {
	s.stats.addResumed(s.store.Done[seq])
	if !s.needed(seq) {
		return nil, nil
	}
	return s.store.Load(seq, s.node.Out, s.r.opts.Alloc)
}

func (s *stepRun) commit(c *checkpoint.Commit, rec arrow.Record, ledger []byte) error {
	defer releaseLedger(ledger)
	if s.spec.NoCheckpoint {
		rec = nil // a sink's rows are never read back: keep only counts and rejects
	}
	s.stats.addCommit(c)
	if err := s.store.Commit(c, rec, ledger); err != nil {
		return fmt.Errorf("committing batch %s: %w", shortSeq(c.Seq), err)
	}
	return nil
}

func (s *stepRun) checkSchema(rec arrow.Record) error {
	got, want := rec.Schema(), s.node.Out
	if got.NumFields() != want.NumFields() {
		return fmt.Errorf("op %s returned %d columns, its plan declared %d (%s)", s.node.Step.Op, got.NumFields(), want.NumFields(), fieldNames(want))
	}
	for i := range want.Fields() {
		a, b := got.Field(i), want.Field(i)
		if a.Name != b.Name || op.TypeName(a) != op.TypeName(b) {
			return fmt.Errorf("op %s returned column %s:%s where its plan declared %s:%s", s.node.Step.Op, a.Name, op.TypeName(a), b.Name, op.TypeName(b))
		}
	}
	return nil
}

func fieldNames(sc *arrow.Schema) string {
	var out []byte
	for i, f := range sc.Fields() {
		if i > 0 {
			out = append(out, ", "...)
		}
		out = append(out, f.Name...)
	}
	return string(out)
}

// ledger renders rejects as JSON lines and counts them into c.
func (s *stepRun) ledger(seq uint64, in arrow.Record, rejects []op.Reject, c *checkpoint.Commit) []byte {
	if len(rejects) == 0 {
		return nil
	}
	c.Rejects = map[string]int64{}
	buf := (*ledgerPool.Get().(*[]byte))[:0]
	for _, rj := range rejects {
		c.Rejects[rj.Reason]++
		buf = append(buf, `{"step":`...)
		buf = op.AppendJSONString(buf, s.node.Name())
		buf = append(buf, `,"batch":`...)
		buf = op.AppendJSONString(buf, shortSeq(seq))
		buf = append(buf, `,"row":`...)
		buf = fmt.Appendf(buf, "%d", rj.Row)
		buf = append(buf, `,"reason":`...)
		buf = op.AppendJSONString(buf, rj.Reason)
		if rj.Detail != "" {
			buf = append(buf, `,"detail":`...)
			buf = op.AppendJSONString(buf, s.r.p.Recipe.Redact(rj.Detail))
		}
		buf = append(buf, `,"data":`...)
		switch {
		case in != nil && rj.Row >= 0 && rj.Row < int(in.NumRows()):
			buf = op.AppendRowJSON(buf, in, rj.Row)
		case rj.Data != "":
			if validJSON(rj.Data) {
				buf = append(buf, rj.Data...)
			} else {
				buf = op.AppendJSONString(buf, rj.Data)
			}
		default:
			buf = append(buf, "null"...)
		}
		buf = append(buf, "}\n"...)
	}
	return buf
}

// ledgerPool recycles rejects buffers once their commit is written.
var ledgerPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func releaseLedger(b []byte) {
	if cap(b) > 0 && cap(b) <= 64<<20 {
		b = b[:0]
		ledgerPool.Put(&b)
	}
}

// item is one batch moving through a processor step, in stream order.
type item struct {
	seq  uint64
	done chan flow // receives the output (exactly once)
}

// holes tracks the batches of a step that wait on transient failures
// (op.Result.Deferred), here or upstream. Such a batch is not committed and
// goes downstream as a hole: row-local steps skip it, while ordered steps
// (sequential, checkpointed) commit nothing at or after the first hole, so
// that their state and outputs after a rerun equal those of a clean run.
type holes struct {
	mu      sync.Mutex
	any     bool // a hole was seen (a Finisher must not finish)
	stopped bool // an ordered step met a hole: it only drains from now on
}

func (h *holes) mark(ordered bool) {
	h.mu.Lock()
	h.any = true
	if ordered {
		h.stopped = true
	}
	h.mu.Unlock()
}

func (h *holes) state() (any, stopped bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.any, h.stopped
}

// restore hands a checkpointed operator the state deltas of its committed
// batches, in stream order.
func (s *stepRun) restore(ck op.Checkpointer) error {
	var seqs []uint64
	for seq := range s.store.Done {
		if seq < FinishBase {
			seqs = append(seqs, seq)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	var deltas [][]byte
	for _, seq := range seqs {
		if d := s.store.Done[seq].Delta; len(d) > 0 {
			deltas = append(deltas, d)
		}
	}
	if err := ck.Restore(deltas); err != nil {
		return fmt.Errorf("restoring state: %w", err)
	}
	return nil
}

// emit passes a processor's outputs on in stream order, until queue closes.
func (s *stepRun) emit(ctx context.Context, cancel context.CancelCauseFunc, queue <-chan item) error {
	var err error
	for it := range queue {
		f := <-it.done
		if f.failed {
			continue // the error is in errc
		}
		if err != nil {
			if f.rec != nil {
				f.rec.Release()
			}
			continue
		}
		var e error
		if f.hole {
			e = s.sendHole(ctx, f.seq)
		} else {
			e = s.send(ctx, f.seq, f.rec)
		}
		if e != nil {
			err = e
			cancel(e)
		}
	}
	return err
}

func (s *stepRun) runProcessor(ctx context.Context, proc op.Processor) error {
	seqOp := s.node.IsSequential()
	ck, isCk := proc.(op.Checkpointer)
	fin, isFin := proc.(op.Finisher)
	ordered := seqOp || isCk
	finishSeq := FinishBase + uint64(s.node.Topo)
	if isCk && len(s.store.Done) > 0 {
		if err := s.restore(ck); err != nil {
			return err
		}
	}
	workers := s.node.Step.Workers
	if seqOp || workers < 1 {
		workers = 1
	}
	queue := make(chan item, workers+s.r.opts.Depth)
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	var hs holes
	errc := make(chan error, 1)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
		cancel(err)
	}
	emitDone := make(chan error, 1)
	go func() { emitDone <- s.emit(ctx, cancel, queue) }()
	dispatch := func(ctx context.Context) error {
		return s.merge(ctx, func(f flow) error {
			it := item{seq: f.seq, done: make(chan flow, 1)}
			if _, ok := s.store.Done[f.seq]; ok {
				if f.rec != nil {
					f.rec.Release()
				}
				select {
				case queue <- it:
				case <-ctx.Done():
					return context.Cause(ctx)
				}
				rec, err := s.reuse(f.seq)
				if err != nil {
					it.done <- flow{failed: true}
					return err
				}
				it.done <- flow{seq: f.seq, rec: rec}
				return nil
			}
			if f.rec == nil && !f.hole {
				return fmt.Errorf("batch %s arrived without rows, but this step has not committed it", shortSeq(f.seq))
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				if f.rec != nil {
					f.rec.Release()
				}
				return context.Cause(ctx)
			}
			// an ordered step's previous batch is done once sem is ours
			if _, stopped := hs.state(); f.hole || stopped {
				if f.rec != nil {
					f.rec.Release() // drained: upstream keeps going
				}
				hs.mark(ordered)
				s.stats.addHole()
				select {
				case queue <- it:
				case <-ctx.Done():
					<-sem
					return context.Cause(ctx)
				}
				<-sem
				it.done <- flow{seq: f.seq, hole: true}
				return nil
			}
			select {
			case queue <- it:
			case <-ctx.Done():
				<-sem
				f.rec.Release()
				return context.Cause(ctx)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				out, err := guard("", func() (arrow.Record, error) { return s.process(ctx, proc, ck, f) })
				if err != nil {
					fail(err)
					it.done <- flow{failed: true}
					return
				}
				if out == nil {
					hs.mark(ordered)
					s.stats.addHole()
					it.done <- flow{seq: f.seq, hole: true}
					return
				}
				it.done <- flow{seq: f.seq, rec: out}
			}()
			return nil
		})
	}
	err := dispatch(ctx)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	if err == nil && isFin {
		err = s.finishStep(ctx, fin, finishSeq, &hs, queue)
	}
	close(queue)
	if eerr := <-emitDone; err == nil {
		err = eerr
	}
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	return err
}

// finishStep emits a Finisher's last batch: reused when committed, a hole
// when the step saw one (its input is incomplete), else from Finish.
func (s *stepRun) finishStep(ctx context.Context, fin op.Finisher, finishSeq uint64, hs *holes, queue chan<- item) error {
	it := item{seq: finishSeq, done: make(chan flow, 1)}
	queue <- it
	if _, ok := s.store.Done[finishSeq]; ok {
		rec, err := s.reuse(finishSeq)
		if err != nil {
			it.done <- flow{failed: true}
			return err
		}
		it.done <- flow{seq: finishSeq, rec: rec}
		return nil
	}
	if any, _ := hs.state(); any {
		s.stats.addHole()
		it.done <- flow{seq: finishSeq, hole: true}
		return nil
	}
	out, err := guard("finishing", func() (arrow.Record, error) { return s.finish(ctx, fin, finishSeq) })
	if err != nil {
		it.done <- flow{failed: true}
		return err
	}
	it.done <- flow{seq: finishSeq, rec: out}
	return nil
}

// process runs one batch through the operator and commits the result. A
// nil record with a nil error means the batch has deferred rows: it is
// counted and not committed.
func (s *stepRun) process(ctx context.Context, proc op.Processor, ck op.Checkpointer, f flow) (arrow.Record, error) {
	defer f.rec.Release()
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	start := time.Now()
	c := &checkpoint.Commit{Seq: f.seq, RowsIn: f.rec.NumRows()}
	var res op.Result
	if f.rec.NumRows() > 0 {
		var err error
		s.stats.busy(1)
		bp := s.stats.batchProgress()
		res, err = proc.Process(withBatchProgress(ctx, bp), op.Batch{Seq: f.seq, Record: f.rec, Alloc: s.r.opts.Alloc})
		bp.done() // its rows count again when the batch is committed
		s.stats.busy(-1)
		if err != nil {
			if res.Record != nil {
				res.Record.Release()
			}
			return nil, fmt.Errorf("batch %s: %w", shortSeq(f.seq), err)
		}
		if len(res.Deferred) > 0 {
			if res.Record != nil {
				res.Record.Release()
			}
			s.stats.addDeferred(res.Deferred)
			return nil, nil
		}
		if ck != nil {
			d, err := ck.Delta()
			if err != nil {
				if res.Record != nil {
					res.Record.Release()
				}
				return nil, fmt.Errorf("batch %s: checkpoint state: %w", shortSeq(f.seq), err)
			}
			c.Delta = d
		}
	}
	out := res.Record
	if out == nil {
		out = op.EmptyRecord(s.r.opts.Alloc, s.node.Out)
	}
	if err := s.checkSchema(out); err != nil {
		out.Release()
		return nil, err
	}
	c.RowsOut = out.NumRows()
	c.Counters = res.Counters
	ledger := s.ledger(f.seq, f.rec, res.Rejects, c)
	c.Seconds = time.Since(start).Seconds()
	if err := s.commit(c, out, ledger); err != nil {
		out.Release()
		return nil, err
	}
	return out, nil
}

func (s *stepRun) finish(ctx context.Context, fin op.Finisher, seq uint64) (arrow.Record, error) {
	start := time.Now()
	res, err := fin.Finish(ctx, s.r.opts.Alloc)
	if err != nil {
		if res.Record != nil {
			res.Record.Release()
		}
		return nil, fmt.Errorf("finishing: %w", err)
	}
	out := res.Record
	if out == nil {
		out = op.EmptyRecord(s.r.opts.Alloc, s.node.Out)
	}
	if err := s.checkSchema(out); err != nil {
		out.Release()
		return nil, err
	}
	c := &checkpoint.Commit{Seq: seq, RowsOut: out.NumRows(), Counters: res.Counters}
	ledger := s.ledger(seq, nil, res.Rejects, c)
	c.Seconds = time.Since(start).Seconds()
	if err := s.commit(c, out, ledger); err != nil {
		out.Release()
		return nil, err
	}
	return out, nil
}

// merge reads the step's inputs and calls fn with their batches in seq
// order. Batches with the same seq from several inputs (a fan-out joined
// again) are concatenated in input order, so that a step still sees one
// batch per seq. fn owns each flow's record.
func (s *stepRun) merge(ctx context.Context, fn func(flow) error) error {
	heads := make([]*flow, len(s.ins))
	open := make([]bool, len(s.ins))
	for i := range open {
		open[i] = true
	}
	drain := func() {
		for _, h := range heads {
			if h != nil && h.rec != nil {
				h.rec.Release()
			}
		}
	}
	defer func() {
		for _, h := range heads {
			if h != nil && h.rec != nil {
				h.rec.Release()
				h.rec = nil
			}
		}
	}()
	for {
		for i, c := range s.ins {
			if heads[i] != nil || !open[i] {
				continue
			}
			select {
			case f, ok := <-c:
				if !ok {
					open[i] = false
					continue
				}
				heads[i] = &f
			case <-ctx.Done():
				drain()
				return context.Cause(ctx)
			}
		}
		best := -1
		for i, h := range heads {
			if h != nil && (best < 0 || h.seq < heads[best].seq) {
				best = i
			}
		}
		if best < 0 {
			return nil
		}
		seq := heads[best].seq
		var parts []arrow.Record
		isHole := false // any input waiting makes the joined batch wait
		for i, h := range heads {
			if h != nil && h.seq == seq {
				parts = append(parts, h.rec)
				isHole = isHole || h.hole
				heads[i] = nil
			}
		}
		f := flow{seq: seq, rec: parts[0], hole: isHole}
		hasNil := false
		for _, p := range parts {
			hasNil = hasNil || p == nil
		}
		if hasNil || isHole {
			// some input skipped the rows (this step has the batch
			// committed), or some input waits (a hole)
			for _, p := range parts {
				if p != nil {
					p.Release()
				}
			}
			f.rec = nil
		} else if len(parts) > 1 {
			rec, err := concat(s.r.opts.Alloc, s.node.In, parts)
			for _, p := range parts {
				p.Release()
			}
			if err != nil {
				drain()
				return fmt.Errorf("joining inputs of batch %s: %w", shortSeq(seq), err)
			}
			f.rec = rec
		}
		if err := fn(f); err != nil {
			drain()
			return err
		}
	}
}

// concat joins records with the same columns into one, under schema sc.
func concat(alloc memory.Allocator, sc *arrow.Schema, recs []arrow.Record) (arrow.Record, error) {
	cols := make([]arrow.Array, sc.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	var rows int64
	for _, r := range recs {
		rows += r.NumRows()
	}
	for i := range cols {
		parts := make([]arrow.Array, len(recs))
		for k, r := range recs {
			idx := r.Schema().FieldIndices(sc.Field(i).Name)
			if len(idx) == 0 {
				return nil, fmt.Errorf("input batch lacks column %q", sc.Field(i).Name)
			}
			parts[k] = r.Column(idx[0])
		}
		c, err := array.Concatenate(parts, alloc)
		if err != nil {
			return nil, err
		}
		cols[i] = c
	}
	return array.NewRecord(sc, cols, rows), nil
}

func validJSON(s string) bool {
	if len(s) == 0 {
		return false
	}
	switch s[0] {
	case '{', '[':
		return jsonValid([]byte(s))
	}
	return false
}
