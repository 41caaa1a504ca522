package run

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/caco-dev/caco/engine/checkpoint"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/plan"
)

func jsonValid(b []byte) bool { return json.Valid(b) }

// live holds a step's counts while it runs (for progress).
type live struct {
	mu       sync.Mutex
	name, op string
	rowsIn   int64
	rowsOut  int64 // rows sent downstream
	rejected int64
	batches  int64
	resumed  int64
	inFlight int
	// rows that got no verdict (op.Result.Deferred), by reason, with the
	// first detail of each reason; batches not committed because of them
	// (here or upstream)
	deferred map[string]int64
	details  map[string]string
	holes    int64
	// p is what operators report while they work (op.Progress).
	p     progressState
	model string
}

func (l *live) addDeferred(ds []op.Deferral) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deferred == nil {
		l.deferred, l.details = map[string]int64{}, map[string]string{}
	}
	for _, d := range ds {
		l.deferred[d.Reason]++
		if _, ok := l.details[d.Reason]; !ok {
			l.details[d.Reason] = d.Detail
		}
	}
}

func (l *live) addHole() {
	l.mu.Lock()
	l.holes++
	l.mu.Unlock()
}

// waiting returns the rows deferred by reason (a copy), their first
// details, and the batches left uncommitted.
func (l *live) waiting() (map[string]int64, map[string]string, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rows := make(map[string]int64, len(l.deferred))
	details := make(map[string]string, len(l.details))
	for k, v := range l.deferred {
		rows[k] = v
	}
	for k, v := range l.details {
		details[k] = v
	}
	return rows, details, l.holes
}

func newLive(n *plan.Node) *live {
	l := &live{name: n.Name(), op: n.Step.Op}
	// the model an LLM step calls, for metrics per model
	var cfg struct {
		Model string `json:"model"`
	}
	if json.Unmarshal(n.Step.Canonical, &cfg) == nil {
		l.model = cfg.Model
	}
	return l
}

func (l *live) addCommit(c *checkpoint.Commit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rowsIn += c.RowsIn
	l.batches++
	for _, n := range c.Rejects {
		l.rejected += n
	}
	l.countRejects(c.Rejects)
}

func (l *live) addResumed(c *checkpoint.Commit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rowsIn += c.RowsIn
	l.batches++
	l.resumed++
	for _, n := range c.Rejects {
		l.rejected += n
	}
	l.countRejects(c.Rejects)
}

func (l *live) addOut(n int64) {
	l.mu.Lock()
	l.rowsOut += n
	l.mu.Unlock()
}

func (l *live) busy(d int) {
	l.mu.Lock()
	l.inFlight += d
	l.mu.Unlock()
}

func (l *live) snapshot() live {
	l.mu.Lock()
	defer l.mu.Unlock()
	return live{name: l.name, op: l.op, rowsIn: l.rowsIn, rowsOut: l.rowsOut, rejected: l.rejected, batches: l.batches, resumed: l.resumed, inFlight: l.inFlight}
}

// Stats are a run's per-step counts, as written to stats.json.
type Stats struct {
	Recipe  string       `json:"recipe"`
	Seconds float64      `json:"seconds"`
	Steps   []*StepStats `json:"steps"`
}

// StepStats are one step's counts over all its committed batches (resumed
// ones included), so they are the same whether or not the run was resumed.
type StepStats struct {
	Step     string           `json:"step"`
	Op       string           `json:"op"`
	RowsIn   int64            `json:"rows_in"`
	RowsOut  int64            `json:"rows_out"`
	Rejected int64            `json:"rejected"`
	Rejects  map[string]int64 `json:"rejects"`
	Counters map[string]int64 `json:"counters,omitempty"`
	Batches  int64            `json:"batches"`
	Resumed  int64            `json:"resumed_batches"`
	// Waiting counts rows that got no verdict in this run because of a
	// transient failure (op.Result.Deferred), by reason; Uncommitted counts
	// this step's batches left for the next run because of them.
	Waiting     map[string]int64 `json:"waiting,omitempty"`
	Uncommitted int64            `json:"uncommitted_batches,omitempty"`
	// Seconds is the time spent processing this step's batches (summed
	// over workers; includes earlier runs for resumed batches).
	Seconds float64 `json:"seconds"`
}

// finish assembles stats.json and rejects.jsonl from the commits on disk.
func (r *runner) finish() (*Stats, error) {
	st := &Stats{Recipe: r.p.Recipe.Name, Seconds: time.Since(r.start).Seconds()}
	ledgerPath := filepath.Join(r.opts.RunDir, "rejects.jsonl")
	tmp := ledgerPath + ".tmp"
	lf, err := os.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("writing rejects ledger: %w", err)
	}
	w := bufio.NewWriterSize(lf, 1<<20)
	byName := map[string]*stepRun{}
	for _, s := range r.steps {
		byName[s.node.Name()] = s
	}
	// ledger and table in file order
	for _, step := range r.p.Recipe.Steps {
		s := byName[step.Name]
		commits, err := s.store.Commits()
		if err != nil {
			lf.Close()
			return nil, fmt.Errorf("reading commits of %s: %w", step.Name, err)
		}
		ss := &StepStats{Step: step.Name, Op: step.Op, Rejects: map[string]int64{}, Counters: map[string]int64{}}
		snap := s.stats.snapshot()
		ss.Resumed = snap.resumed
		if w, _, h := s.stats.waiting(); len(w) > 0 || h > 0 {
			ss.Uncommitted = h
			if len(w) > 0 {
				ss.Waiting = w
			}
		}
		for _, c := range commits {
			ss.RowsIn += c.RowsIn
			ss.RowsOut += c.RowsOut
			ss.Batches++
			ss.Seconds += c.Seconds
			for k, v := range c.Rejects {
				ss.Rejects[k] += v
				ss.Rejected += v
			}
			for k, v := range c.Counters {
				ss.Counters[k] += v
			}
			if c.HasRejects() {
				b, err := s.store.Rejects(c)
				if err == nil {
					_, err = w.Write(b)
				}
				if err != nil {
					lf.Close()
					return nil, fmt.Errorf("rejects ledger, step %s: %w", step.Name, err)
				}
			}
		}
		if len(ss.Counters) == 0 {
			ss.Counters = nil
		}
		st.Steps = append(st.Steps, ss)
	}
	if err := w.Flush(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("writing rejects ledger: %w", err)
	}
	if err := lf.Close(); err != nil {
		return nil, fmt.Errorf("writing rejects ledger: %w", err)
	}
	if err := os.Rename(tmp, ledgerPath); err != nil {
		return nil, fmt.Errorf("writing rejects ledger: %w", err)
	}
	if err := checkpoint.WriteJSON(filepath.Join(r.opts.RunDir, "stats.json"), st); err != nil {
		return nil, err
	}
	return st, nil
}

// WriteTable prints the per-step funnel: rows in and out, rejects by reason.
func (st *Stats) WriteTable(w io.Writer) { st.WriteTableWidth(w, 0) }

// WriteTableWidth prints the funnel so that no line is wider than width
// columns (0: no limit): rejects that do not fit go on indented lines below
// their step.
func (st *Stats) WriteTableWidth(w io.Writer, width int) {
	if width > 0 {
		var b strings.Builder
		st.WriteTableWidth(&b, 0)
		for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
			writeWrapped(w, line, width)
		}
		return
	}
	nameW, opW := len("step"), len("op")
	for _, s := range st.Steps {
		nameW = max(nameW, len(s.Step))
		opW = max(opW, len(s.Op))
	}
	fmt.Fprintf(w, "%-*s  %-*s  %10s  %10s  %10s  %8s  %s\n", nameW, "step", opW, "op", "rows in", "rows out", "rejected", "seconds", "rejects by reason")
	for _, s := range st.Steps {
		var reasons []string
		for _, k := range sortedKeys(s.Rejects) {
			reasons = append(reasons, fmt.Sprintf("%s=%d", k, s.Rejects[k]))
		}
		for _, k := range sortedKeys(s.Waiting) {
			reasons = append(reasons, fmt.Sprintf("waiting:%s=%d", k, s.Waiting[k]))
		}
		for _, k := range sortedKeys(s.Counters) {
			if strings.HasSuffix(k, "_tokens") || strings.HasSuffix(k, "_rows") { // _rows: rows out by kind (e.g. back_translate's styles)
				reasons = append(reasons, fmt.Sprintf("[%s=%d]", k, s.Counters[k]))
			}
		}
		fmt.Fprintf(w, "%-*s  %-*s  %10d  %10d  %10d  %8.2f  %s\n", nameW, s.Step, opW, s.Op, s.RowsIn, s.RowsOut, s.Rejected, s.Seconds, strings.Join(reasons, " "))
	}
}

// writeWrapped writes a table line within width columns: the line up to its
// last column that fits, the rest as indented continuation lines, cut at
// spaces.
func writeWrapped(w io.Writer, line string, width int) {
	const indent = "      "
	first := true
	for {
		limit := width - 1
		prefix := ""
		if !first {
			prefix = indent
			limit -= len(indent)
		}
		if utf8.RuneCountInString(line) <= limit {
			fmt.Fprintf(w, "%s%s\n", prefix, line)
			return
		}
		r := []rune(line)
		cut := limit
		for cut > limit/2 && r[cut] != ' ' {
			cut--
		}
		if r[cut] != ' ' {
			cut = limit
		}
		fmt.Fprintf(w, "%s%s\n", prefix, strings.TrimRight(string(r[:cut]), " "))
		line = strings.TrimLeft(string(r[cut:]), " ")
		first = false
		if line == "" {
			return
		}
	}
}
