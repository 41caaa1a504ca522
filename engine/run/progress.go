package run

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/caco-dev/caco/engine/op"
)

// progressState is what operators report through op.Progress while they
// process batches, kept in a step's live counts.
type progressState struct {
	// partial counts rows finished inside batches not yet committed.
	partial  int64
	counters map[string]int64
	gauges   map[string]int64
	hists    map[string]*histo
	rejects  map[string]int64
	finished bool
}

// latencyBounds are the upper bounds, in seconds, of the duration
// histograms (requests, programs).
var latencyBounds = []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 600}

type histo struct {
	counts []int64 // len(latencyBounds)+1
	sum    float64
	n      int64
}

// HistSnapshot is a duration histogram: Counts[i] observations at or under
// Bounds[i] and above the bound before; the last count is above every bound.
type HistSnapshot struct {
	Bounds []float64 `json:"bounds"`
	Counts []int64   `json:"counts"`
	Sum    float64   `json:"sum"`
	N      int64     `json:"n"`
}

func (l *live) count(name string, d int64) {
	l.mu.Lock()
	if l.p.counters == nil {
		l.p.counters = map[string]int64{}
	}
	l.p.counters[name] += d
	l.mu.Unlock()
}

func (l *live) gauge(name string, d int64, set bool) {
	l.mu.Lock()
	if l.p.gauges == nil {
		l.p.gauges = map[string]int64{}
	}
	if set {
		l.p.gauges[name] = d
	} else {
		l.p.gauges[name] += d
	}
	l.mu.Unlock()
}

func (l *live) observe(name string, sec float64) {
	i := sort.SearchFloat64s(latencyBounds, sec)
	l.mu.Lock()
	if l.p.hists == nil {
		l.p.hists = map[string]*histo{}
	}
	h := l.p.hists[name]
	if h == nil {
		h = &histo{counts: make([]int64, len(latencyBounds)+1)}
		l.p.hists[name] = h
	}
	h.counts[i]++
	h.sum += sec
	h.n++
	l.mu.Unlock()
}

func (l *live) addPartial(d int64) {
	l.mu.Lock()
	l.p.partial += d
	l.mu.Unlock()
}

func (l *live) countRejects(m map[string]int64) {
	if len(m) == 0 {
		return
	}
	if l.p.rejects == nil {
		l.p.rejects = map[string]int64{}
	}
	for k, v := range m {
		l.p.rejects[k] += v
	}
}

func (l *live) finish() {
	l.mu.Lock()
	l.p.finished = true
	l.mu.Unlock()
}

// batchProgress is the op.Progress of one Process call: counters, gauges
// and histograms go to the step; rows done are the batch's own until it is
// committed (or fails), when done takes them back out of the step's partial
// count so that no row counts twice.
type batchProgress struct {
	l    *live
	rows atomic.Int64
}

func (b *batchProgress) Count(name string, d int64) {
	if name == op.ProgressRowsDone {
		b.rows.Add(d)
		b.l.addPartial(d)
		return
	}
	b.l.count(name, d)
}
func (b *batchProgress) Gauge(name string, d int64)     { b.l.gauge(name, d, false) }
func (b *batchProgress) SetGauge(name string, v int64)  { b.l.gauge(name, v, true) }
func (b *batchProgress) Observe(name string, s float64) { b.l.observe(name, s) }
func (b *batchProgress) done()                          { b.l.addPartial(-b.rows.Swap(0)) }
func (l *live) batchProgress() *batchProgress           { return &batchProgress{l: l} }
func withBatchProgress(ctx context.Context, b *batchProgress) context.Context {
	return op.WithProgress(ctx, b)
}

// StepProgress is a step's live counts at a moment: the committed batches
// of this run and earlier ones, and what operators reported since.
type StepProgress struct {
	Step string `json:"-"`
	Op   string `json:"-"`
	// Model is the model an LLM step calls ("" for other steps).
	Model string `json:"-"`
	// RowsIn counts input rows of committed batches; RowsDone adds the
	// rows finished inside batches still being processed.
	RowsIn   int64 `json:"rows_in"`
	RowsDone int64 `json:"rows_done"`
	RowsOut  int64 `json:"rows_out"`
	Rejected int64 `json:"rejected"`
	// Busy is the number of batches being processed now.
	Busy     int64                   `json:"in_flight"`
	Batches  int64                   `json:"batches"`
	Resumed  int64                   `json:"resumed"`
	Finished bool                    `json:"finished,omitempty"`
	Rejects  map[string]int64        `json:"rejects,omitempty"`
	Counters map[string]int64        `json:"counters,omitempty"`
	Gauges   map[string]int64        `json:"gauges,omitempty"`
	Latency  map[string]HistSnapshot `json:"latency,omitempty"`
}

func (l *live) progress() StepProgress {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := StepProgress{Step: l.name, Op: l.op, Model: l.model, RowsIn: l.rowsIn, RowsDone: l.rowsIn + l.p.partial, RowsOut: l.rowsOut,
		Rejected: l.rejected, Busy: int64(l.inFlight), Batches: l.batches, Resumed: l.resumed, Finished: l.p.finished}
	p.Rejects = copyMap(l.p.rejects)
	p.Counters = copyMap(l.p.counters)
	p.Gauges = copyMap(l.p.gauges)
	if len(l.p.hists) > 0 {
		p.Latency = map[string]HistSnapshot{}
		for k, h := range l.p.hists {
			p.Latency[k] = HistSnapshot{Bounds: latencyBounds, Counts: append([]int64(nil), h.counts...), Sum: h.sum, N: h.n}
		}
	}
	return p
}

func copyMap(m map[string]int64) map[string]int64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Monitor gives the live counts of a run to code outside the runner (the
// metrics server). Pass one in Options; its Snapshot is empty until the run
// starts.
type Monitor struct {
	mu sync.Mutex
	r  *runner
}

// Snapshot returns every step's live counts in DAG order.
func (m *Monitor) Snapshot() []StepProgress {
	m.mu.Lock()
	r := m.r
	m.mu.Unlock()
	if r == nil {
		return nil
	}
	out := make([]StepProgress, 0, len(r.steps))
	for _, s := range r.steps {
		out = append(out, s.stats.progress())
	}
	return out
}

// Recipe is the name of the recipe being run ("" before the run starts).
func (m *Monitor) Recipe() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.r == nil {
		return ""
	}
	return m.r.p.Recipe.Name
}

func (m *Monitor) attach(r *runner) {
	m.mu.Lock()
	m.r = r
	m.mu.Unlock()
}

// timelineLine is one line of RUN_DIR/timeline.jsonl.
type timelineLine struct {
	Time    time.Time               `json:"t"`
	Elapsed float64                 `json:"elapsed"`
	Steps   map[string]StepProgress `json:"steps"`
}

// progress reports while the run goes: a live table redrawn in place on a
// terminal, else a line per active step every LogInterval; and it appends
// snapshots of active steps to RUN_DIR/timeline.jsonl for the report (every
// 2 s at first, then less often as the run gets longer: at most about 500
// lines a run). The returned func stops it.
func (r *runner) progress(ctx context.Context) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	pr := &progressView{r: r, prev: map[string]int64{}, prevTok: map[string]int64{}, last: time.Now()}
	tl, _ := os.OpenFile(filepath.Join(r.opts.RunDir, "timeline.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o666)
	var lastTL time.Time
	timeline := func(force bool) {
		if tl == nil {
			return
		}
		now := time.Now()
		every := max(2*time.Second, now.Sub(r.start)/500)
		if !force && now.Sub(lastTL) < every {
			return
		}
		lastTL = now
		line := timelineLine{Time: now, Elapsed: now.Sub(r.start).Seconds(), Steps: map[string]StepProgress{}}
		for _, s := range r.steps {
			p := s.stats.progress()
			if p.Busy > 0 || p.Gauges["requests_in_flight"] > 0 || force || (p.RowsDone > 0 && !p.Finished) {
				line.Steps[p.Step] = p
			}
		}
		b, err := json.Marshal(line)
		if err == nil {
			_, _ = tl.Write(append(b, '\n'))
		}
	}
	logEvery := r.opts.LogInterval
	tick := 500 * time.Millisecond
	if !r.opts.Live {
		tick = min(logEvery, time.Second)
	}
	go func() {
		defer close(done)
		if tl != nil {
			defer tl.Close()
		}
		t := time.NewTicker(tick)
		defer t.Stop()
		lastLog := time.Now()
		for {
			select {
			case <-t.C:
				timeline(false)
				if r.opts.Live {
					pr.draw(false)
				} else if time.Since(lastLog) >= logEvery {
					lastLog = time.Now()
					pr.logLines()
				}
			case <-stop:
				timeline(true)
				if r.opts.Live {
					pr.draw(true)
				}
				return
			case <-ctx.Done():
				timeline(true)
				return
			}
		}
	}()
	return func() {
		close(stop)
		<-done
	}
}

// progressView renders the live table and the log lines.
type progressView struct {
	r       *runner
	prev    map[string]int64 // rows done at the last render
	prevTok map[string]int64
	last    time.Time
	lines   int // lines of the table on screen
	rates   map[string]float64
	tokRate map[string]float64
}

func (v *progressView) size() (int, int) {
	w, h := 80, 24
	if v.r.opts.Size != nil {
		if cw, ch := v.r.opts.Size(); cw > 0 && ch > 0 {
			w, h = cw, ch
		}
	}
	return w, h
}

// sample updates the rates and returns the steps' progress.
func (v *progressView) sample() []StepProgress {
	now := time.Now()
	dt := max(now.Sub(v.last).Seconds(), 1e-9)
	v.last = now
	v.rates, v.tokRate = map[string]float64{}, map[string]float64{}
	var out []StepProgress
	for _, s := range v.r.steps {
		p := s.stats.progress()
		v.rates[p.Step] = float64(p.RowsDone-v.prev[p.Step]) / dt
		v.prev[p.Step] = p.RowsDone
		tok := p.Counters["completion_tokens"]
		v.tokRate[p.Step] = float64(tok-v.prevTok[p.Step]) / dt
		v.prevTok[p.Step] = tok
		out = append(out, p)
	}
	return out
}

// expected returns how many input rows a step will see, when known: the
// rows its finished inputs sent (sources: unknown until finished).
func (v *progressView) expected(ps []StepProgress) map[string]int64 {
	by := map[string]StepProgress{}
	for _, p := range ps {
		by[p.Step] = p
	}
	exp := map[string]int64{}
	for _, s := range v.r.steps {
		if len(s.node.Inputs) == 0 {
			if p := by[s.node.Name()]; p.Finished {
				exp[s.node.Name()] = p.RowsIn
			}
			continue
		}
		total, known := int64(0), true
		for _, in := range s.node.Inputs {
			p := by[in.Name()]
			if !p.Finished {
				known = false
				break
			}
			total += p.RowsOut
		}
		if known {
			exp[s.node.Name()] = total
		}
	}
	return exp
}

// cell is one column of a step's line; columns are dropped by priority
// (highest number first) until the line fits the terminal.
type cell struct {
	text string
	prio int
}

func (v *progressView) cells(p StepProgress, exp map[string]int64) []cell {
	mark := " "
	switch {
	case p.Finished:
		mark = "✓"
	case p.Busy > 0 || p.Gauges["requests_in_flight"] > 0:
		mark = "▸"
	}
	done := num64(p.RowsDone)
	total, known := exp[p.Step]
	if known {
		done += "/" + num64(total)
	}
	cs := []cell{
		{fmt.Sprintf("%s %-18s", mark, clipRunes(p.Step, 18)), 0},
		{fmt.Sprintf("%-9s", clipRunes(p.Op, 9)), 5},
		{fmt.Sprintf("%13s", done), 0},
		{fmt.Sprintf("out %-7s", num64(p.RowsOut)), 4},
		{fmt.Sprintf("rej %-6s", num64(p.Rejected)), 3},
		{fmt.Sprintf("%7s/s", num64(int64(v.rates[p.Step]))), 1},
	}
	if known && !p.Finished && v.rates[p.Step] > 0 {
		left := float64(total-p.RowsDone) / v.rates[p.Step]
		cs = append(cs, cell{"ETA " + shortDur(left), 1})
	}
	c := p.Counters
	switch {
	case c["requests_total"] > 0 || p.Gauges["requests_in_flight"] > 0:
		cs = append(cs, cell{fmt.Sprintf("req %s/%s", num64(c["requests_done"]), num64(c["requests_total"])), 2},
			cell{fmt.Sprintf("fly %d", p.Gauges["requests_in_flight"]), 2})
		if n := p.Gauges["concurrency"]; n > 0 {
			cs = append(cs, cell{fmt.Sprintf("conc %d", n), 6})
		}
		cs = append(cs, cell{fmt.Sprintf("retry %d", c["retries"]), 6}, cell{fmt.Sprintf("err %d", c["llm_errors"]), 6},
			cell{fmt.Sprintf("hit %d", c["cache_hits"]), 7}, cell{fmt.Sprintf("%s tok/s", num64(int64(v.tokRate[p.Step]))), 7})
	case c["programs_done"] > 0:
		var st []string
		for _, k := range sortedKeys(c) {
			if s, ok := strings.CutPrefix(k, "status_"); ok {
				st = append(st, fmt.Sprintf("%s %d", s, c[k]))
			}
		}
		cs = append(cs, cell{fmt.Sprintf("prog %s", num64(c["programs_done"])), 2}, cell{strings.Join(st, " "), 7})
	}
	return cs
}

// fitAll renders lines of cells within width columns: it drops the
// columns of the highest priority numbers, the same ones on every line, until
// every line fits, and cuts what is still too long: a line never wraps.
func fitAll(rows [][]cell, width int) []string {
	level := 0
	for _, cs := range rows {
		for _, c := range cs {
			level = max(level, c.prio)
		}
	}
	keep := func(cs []cell, level int) []cell {
		var out []cell
		for _, c := range cs {
			if c.prio <= level {
				out = append(out, c)
			}
		}
		return out
	}
	for ; level > 0; level-- {
		fits := true
		for _, cs := range rows {
			if utf8.RuneCountInString(joinCells(keep(cs, level))) >= width {
				fits = false
				break
			}
		}
		if fits {
			break
		}
	}
	out := make([]string, len(rows))
	for i, cs := range rows {
		out[i] = clipRunes(joinCells(keep(cs, level)), width-1)
	}
	return out
}

func joinCells(cs []cell) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.text
	}
	return strings.Join(parts, " ")
}

// draw redraws the table in place: cursor up over the previous table, each
// line cleared to its end, and whatever was below cleared. The table never
// has more lines than the terminal has rows (else the cursor could not go
// back to its top): finished and idle steps are then summed up in one line.
func (v *progressView) draw(final bool) {
	ps := v.sample()
	exp := v.expected(ps)
	w, h := v.size()
	var b strings.Builder
	head := fmt.Sprintf("caco run %s  %s", v.r.p.Recipe.Name, time.Since(v.r.start).Truncate(time.Second))
	if eta, ok := v.runETA(ps, exp); ok && !final {
		head += "  ETA " + shortDur(eta)
	}
	shown := ps
	hidden := ""
	if room := h - 2; len(ps)+1 > room && room > 2 {
		// busy steps first, then the others in DAG order
		var busy, rest []StepProgress
		for _, p := range ps {
			if !p.Finished && (p.Busy > 0 || p.Gauges["requests_in_flight"] > 0 || p.RowsDone > 0) {
				busy = append(busy, p)
			} else {
				rest = append(rest, p)
			}
		}
		shown = append(busy, rest...)[:room-2]
		fin, wait := 0, 0
		in := map[string]bool{}
		for _, p := range shown {
			in[p.Step] = true
		}
		for _, p := range ps {
			if !in[p.Step] {
				if p.Finished {
					fin++
				} else {
					wait++
				}
			}
		}
		hidden = fmt.Sprintf("  … %d more steps: %d finished, %d waiting", fin+wait, fin, wait)
	}
	var rows [][]cell
	for _, p := range shown {
		rows = append(rows, v.cells(p, exp))
	}
	b.WriteString(clipRunes(head, w-1))
	b.WriteString("\x1b[K\n")
	for _, line := range fitAll(rows, w) {
		b.WriteString(line)
		b.WriteString("\x1b[K\n")
	}
	lines := len(shown) + 1
	if hidden != "" {
		b.WriteString(clipRunes(hidden, w-1))
		b.WriteString("\x1b[K\n")
		lines++
	}
	v.r.logMu.Lock()
	defer v.r.logMu.Unlock()
	if v.lines > 0 {
		fmt.Fprintf(v.r.opts.Log, "\r\x1b[%dA", v.lines)
	}
	b.WriteString("\x1b[J")
	_, _ = io.WriteString(v.r.opts.Log, b.String())
	v.lines = lines
}

// runETA is the longest ETA of a step not finished, once every step's
// input size is known.
func (v *progressView) runETA(ps []StepProgress, exp map[string]int64) (float64, bool) {
	worst := 0.0
	for _, p := range ps {
		if p.Finished {
			continue
		}
		total, ok := exp[p.Step]
		if !ok || v.rates[p.Step] <= 0 {
			return 0, false
		}
		worst = max(worst, float64(total-p.RowsDone)/v.rates[p.Step])
	}
	return worst, worst > 0
}

// logLines logs a line per active step: busy ones (a batch in process or
// requests in flight) even when they finished nothing since the last line.
func (v *progressView) logLines() {
	ps := v.sample()
	exp := v.expected(ps)
	var b strings.Builder
	n := 0
	for _, p := range ps {
		busy := p.Busy > 0 || p.Gauges["requests_in_flight"] > 0
		if !busy && v.rates[p.Step] == 0 {
			continue
		}
		b.WriteString("  ")
		b.WriteString(strings.TrimSpace(joinCells(v.cells(p, exp))))
		b.WriteString("\n")
		n++
	}
	if n == 0 {
		return
	}
	v.r.logMu.Lock()
	defer v.r.logMu.Unlock()
	fmt.Fprintf(v.r.opts.Log, "%s progress after %s:\n%s", time.Now().Format("15:04:05"), time.Since(v.r.start).Truncate(time.Second), b.String())
}

func clipRunes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// num64 formats a count compactly: 999, 12.3k, 4.56M.
func num64(n int64) string {
	switch {
	case n < 10000:
		return fmt.Sprint(n)
	case n < 1000000:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	case n < 1000000000:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2fG", float64(n)/1e9)
}

func shortDur(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Minute:
		return d.Truncate(time.Second).String()
	case d < time.Hour:
		return d.Truncate(time.Second).String()
	}
	return d.Truncate(time.Minute).String()
}
