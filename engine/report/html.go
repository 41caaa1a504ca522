package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

//go:embed report.html.tmpl
var pageTemplate string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"num":  num,
	"dur":  dur,
	"pct":  func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"frac": func(f float64) string { return fmt.Sprintf("%.3f", f) },
	"share": func(n, total int) string {
		if total == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(total))
	},
	"sorted": func(m map[string]int64) []string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if m[keys[i]] != m[keys[j]] {
				return m[keys[i]] > m[keys[j]]
			}
			return keys[i] < keys[j]
		})
		return keys
	},
	"reasons": reasonsText,
	"when":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).Parse(pageTemplate))

// view is what the template renders.
type view struct {
	*Run
	Generated time.Time
	Status    string
	Seconds   float64
	Funnel    template.HTML
	DAG       template.HTML
	Rejected  []*Step
	Models    []*modelView
	Exec      []*execView
	Datasets  []*datasetView
	RowsIn    int64
}

type modelView struct {
	Name, Model string
	Steps       []string
	Counters    map[string]int64
	P50, P90    float64
	P99         float64
	Latency     bool
	Concurrency template.HTML
}

type execView struct {
	Step     string
	Statuses template.HTML
	Total    int64
	Hist     template.HTML
	HistFrom string
	Slowest  []slowProgram
	Sample   int
}

type slowProgram struct {
	Ms     float64
	Status string
	Code   string
}

type datasetView struct {
	*Dataset
	Lengths []lengthView
	Answers template.HTML
	Mixes   []mixView
}

type lengthView struct {
	LengthHist
	Chart template.HTML
}

type mixView struct {
	Column string
	Chart  template.HTML
}

// WriteHTML renders the report of run r as one self-contained HTML page.
func WriteHTML(w io.Writer, r *Run, now time.Time) error {
	ds, err := r.Datasets(memory.NewGoAllocator())
	if err != nil {
		return err
	}
	return writeHTML(w, r, ds, now)
}

func writeHTML(w io.Writer, r *Run, ds []*Dataset, now time.Time) error {
	alloc := memory.NewGoAllocator()
	v := &view{Run: r, Generated: now, Status: r.Status, Seconds: r.Seconds()}
	if v.Status == "" {
		v.Status = "unknown"
	}
	v.Funnel = funnelSVG(r.Steps)
	v.DAG = dagSVG(r.Steps)
	for _, s := range r.Steps {
		if s.Rejected > 0 {
			v.Rejected = append(v.Rejected, s)
		}
	}
	v.Models = r.modelViews()
	ev, err := r.execViews(alloc)
	if err != nil {
		return err
	}
	v.Exec = ev
	for _, d := range ds {
		dv := &datasetView{Dataset: d}
		for _, h := range d.Lengths {
			dv.Lengths = append(dv.Lengths, lengthView{h, histSVG("lengths of "+h.Column, h.Bins, func(f float64) string { return strconv.Itoa(int(f)) })})
		}
		if len(d.Answers) > 0 {
			dv.Answers = shareBars("answer types", d.Answers, d.Sample)
		}
		for _, m := range d.Mixes {
			dv.Mixes = append(dv.Mixes, mixView{m.Column, shareBars(m.Column, m.Shares, d.Sample)})
		}
		v.Datasets = append(v.Datasets, dv)
	}
	if err := page.Execute(w, v); err != nil {
		return fmt.Errorf("rendering report: %w", err)
	}
	return nil
}

func shareBars(label string, shares []Share, total int) template.HTML {
	var names []string
	var vals []float64
	for _, s := range shares {
		names = append(names, s.Name)
		vals = append(vals, float64(s.N))
	}
	return barsSVG(label, names, vals, func(f float64) string {
		return fmt.Sprintf("%d (%.0f%%)", int(f), 100*f/math.Max(1, float64(total)))
	})
}

func reasonsText(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %s", k, num(m[k])))
	}
	return strings.Join(parts, ", ")
}

// llmCounters are the generate counters shown per model, in order.
var llmCounters = []string{"requests", "retries", "llm_errors", "cache_hits", "cache_misses", "replayed", "truncated", "prompt_tokens", "completion_tokens"}

func (r *Run) modelViews() []*modelView {
	byModel := map[string]*modelView{}
	var order []string
	hists := map[string]Hist{}
	for _, s := range r.Steps {
		if s.Op != "generate" {
			continue
		}
		name := s.ConfigString("model")
		m := byModel[name]
		if m == nil {
			m = &modelView{Name: name, Model: r.Models[name], Counters: map[string]int64{}}
			byModel[name] = m
			order = append(order, name)
		}
		m.Steps = append(m.Steps, s.Name)
		for k, v := range s.Counters {
			m.Counters[k] += v
		}
		if h, ok := r.lastHist(s.Name, "request"); ok {
			hists[name] = hists[name].Merge(h)
		}
	}
	var out []*modelView
	for _, name := range order {
		m := byModel[name]
		if h, ok := hists[name]; ok && h.N > 0 {
			m.Latency = true
			m.P50, m.P90, m.P99 = h.Quantile(0.5), h.Quantile(0.9), h.Quantile(0.99)
		}
		// concurrency over time: the steps' current concurrency added up
		var xs, ys []float64
		for _, snap := range r.Timeline {
			total, seen := 0.0, false
			for _, st := range m.Steps {
				if ss, ok := snap.Steps[st]; ok {
					if c, ok := ss.Gauges["requests_in_flight"]; ok {
						total += float64(c)
						seen = true
					}
				}
			}
			if seen {
				xs = append(xs, snap.Time.Sub(r.Started).Seconds())
				ys = append(ys, total)
			}
		}
		if len(xs) > 1 {
			m.Concurrency = lineSVG("requests in flight, "+name, xs, ys)
		}
		out = append(out, m)
	}
	return out
}

// lastHist returns a step's latency histogram from the last snapshot of
// each run folder's timeline that has it.
func (r *Run) lastHist(step, name string) (Hist, bool) {
	for i := len(r.Timeline) - 1; i >= 0; i-- {
		if ss, ok := r.Timeline[i].Steps[step]; ok {
			if h, ok := ss.Latency[name]; ok {
				return h, true
			}
		}
	}
	return Hist{}, false
}

func (r *Run) execViews(alloc memory.Allocator) ([]*execView, error) {
	var out []*execView
	for _, s := range r.Steps {
		if s.Op != "exec" {
			continue
		}
		ev := &execView{Step: s.Name}
		var names []string
		var vals []float64
		for _, k := range sortedByValue(s.Counters) {
			if st, ok := strings.CutPrefix(k, "status_"); ok {
				names = append(names, st)
				vals = append(vals, float64(s.Counters[k]))
				ev.Total += s.Counters[k]
			}
		}
		total := ev.Total
		ev.Statuses = barsSVG("statuses of "+s.Name, names, vals, func(f float64) string {
			return fmt.Sprintf("%s (%.1f%%)", num(int64(f)), 100*f/math.Max(1, float64(total)))
		})
		// run times: every program when the progress hook recorded them,
		// else the sampled rows
		rows, err := r.sampleRows(s.Name, SampleRows, alloc)
		if err != nil {
			return nil, err
		}
		ev.Sample = len(rows)
		var slow []slowProgram
		var ms []float64
		add := func(get func(string) (string, bool)) {
			t, ok := get("exec_ms")
			if !ok {
				return
			}
			f, err := strconv.ParseFloat(t, 64)
			if err != nil {
				return
			}
			ms = append(ms, f)
			st, _ := get("status")
			code, _ := get(s.ConfigString("code"))
			slow = append(slow, slowProgram{Ms: f, Status: st, Code: cut(code, 600)})
		}
		for _, row := range rows {
			add(row.Get)
		}
		for _, ex := range s.Examples {
			for _, e := range ex {
				m := map[string]string{}
				for _, f := range e.Data {
					m[f.Name] = f.Value
				}
				add(func(k string) (string, bool) { v, ok := m[k]; return v, ok })
			}
		}
		sort.Slice(slow, func(i, j int) bool { return slow[i].Ms > slow[j].Ms })
		if len(slow) > 5 {
			slow = slow[:5]
		}
		ev.Slowest = slow
		if h, ok := r.lastHist(s.Name, "program"); ok && h.N > 0 {
			var bins []Bin
			lo := 0.0
			for i, c := range h.Counts {
				hi := lo * 2
				if i < len(h.Bounds) {
					hi = h.Bounds[i]
				}
				bins = append(bins, Bin{Lo: lo * 1000, Hi: hi * 1000, N: int(c)})
				lo = hi
			}
			for len(bins) > 1 && bins[len(bins)-1].N == 0 {
				bins = bins[:len(bins)-1]
			}
			for len(bins) > 1 && bins[0].N == 0 {
				bins = bins[1:]
			}
			ev.Hist = histSVG("run times of "+s.Name, bins, msFmt)
			ev.HistFrom = fmt.Sprintf("all %s programs timed in this run", num(h.N))
		} else if len(ms) > 0 {
			ev.Hist = histSVG("run times of "+s.Name, msBins(ms), msFmt)
			ev.HistFrom = fmt.Sprintf("a sample of %d kept programs", len(ms))
		}
		out = append(out, ev)
	}
	return out, nil
}

func msFmt(f float64) string { return fmt.Sprintf("%.0f ms", f) }

// msBins is a log-scale histogram of run times in milliseconds.
func msBins(ms []float64) []Bin {
	bounds := []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000}
	bins := make([]Bin, len(bounds)+1)
	lo := 0.0
	for i := range bins {
		hi := math.Inf(1)
		if i < len(bounds) {
			hi = bounds[i]
		}
		bins[i] = Bin{Lo: lo, Hi: hi}
		lo = hi
	}
	for _, m := range ms {
		for i := range bins {
			if m < bins[i].Hi {
				bins[i].N++
				break
			}
		}
	}
	for len(bins) > 1 && bins[len(bins)-1].N == 0 {
		bins = bins[:len(bins)-1]
	}
	for len(bins) > 1 && bins[0].N == 0 {
		bins = bins[1:]
	}
	return bins
}

func sortedByValue(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}
