package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/checkpoint"
)

// fixture writes a run folder the way the runner does: a manifest, and for
// each step a fingerprint and commit files (rows as Arrow IPC, rejects as
// ledger lines), through the checkpoint package.
type fixture struct {
	t     *testing.T
	dir   string
	store *checkpoint.Store
	steps []string
}

func newFixture(t *testing.T, dir, status string, steps ...string) *fixture {
	t.Helper()
	st, err := checkpoint.Open(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m := map[string]any{"recipe": "demo", "file": "recipes/demo.yaml", "status": status, "steps": steps,
		"started": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "updated": time.Date(2026, 1, 2, 3, 14, 5, 0, time.UTC),
		"command": "caco run recipes/demo.yaml", "recipe_sha256": strings.Repeat("ab", 32), "models": map[string]string{"gen": "org/model-7b"}}
	if err := checkpoint.WriteJSON(filepath.Join(dir, "manifest.json"), m); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, dir: dir, store: st, steps: steps}
}

func (f *fixture) step(name, op string, inputs []string, config map[string]any) *checkpoint.StepStore {
	f.t.Helper()
	cfg, _ := json.Marshal(config)
	ss, err := f.store.Step(name, checkpoint.StepInfo{Fingerprint: name + "-fp", Op: op, Version: "1", Config: cfg, Inputs: inputs})
	if err != nil {
		f.t.Fatal(err)
	}
	return ss
}

// commit writes a batch of rows (problem, code, answer, variant) numbered
// from first, and rejects with the given reasons.
func commit(t *testing.T, ss *checkpoint.StepStore, alloc memory.Allocator, seq uint64, first, rows int, rejects map[string]int, counters map[string]int64) {
	t.Helper()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "problem", Type: arrow.BinaryTypes.String},
		{Name: "code", Type: arrow.BinaryTypes.String},
		{Name: "answer", Type: arrow.BinaryTypes.String},
		{Name: "variant", Type: arrow.BinaryTypes.String},
	}, nil)
	b := array.NewRecordBuilder(alloc, sc)
	defer b.Release()
	for i := first; i < first+rows; i++ {
		b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("What is %d plus %d, the sum of two numbers number %d?", i, i%7, i))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("input = {\"a\": %d}\na = input[\"a\"]\noutput = a + %d\n", i, i%7))
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprint(i + i%7))
		b.Field(3).(*array.StringBuilder).Append([]string{"decompose", "reformulate", "alternative"}[i%3])
	}
	rec := b.NewRecord()
	defer rec.Release()
	c := &checkpoint.Commit{Seq: seq, RowsIn: int64(rows), RowsOut: int64(rows), Counters: counters}
	var ledger bytes.Buffer
	if len(rejects) > 0 {
		c.Rejects = map[string]int64{}
	}
	for reason, n := range rejects {
		c.Rejects[reason] += int64(n)
		c.RowsIn += int64(n)
		for k := 0; k < n; k++ {
			fmt.Fprintf(&ledger, `{"step":"x","batch":"0:%d","row":%d,"reason":%q,"detail":"answer=%d output=%d","data":{"problem":"row %d of batch %d","code":"print(1)"}}`+"\n", seq, k, reason, k, k+1, k, seq)
		}
	}
	if err := ss.Commit(c, rec, ledger.Bytes()); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRunningAndFailedFolders(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	for _, status := range []string{"running", "failed"} {
		t.Run(status, func(t *testing.T) {
			dir := t.TempDir()
			f := newFixture(t, dir, status, "src", "gen", "run", "save")
			src := f.step("src", "load", nil, map[string]any{"path": "seeds.jsonl"})
			gen := f.step("gen", "generate", []string{"src"}, map[string]any{"model": "gen", "temperature": 0.7})
			commit(t, src, alloc, 0, 0, 10, nil, nil)
			commit(t, src, alloc, 1, 10, 10, nil, nil)
			commit(t, gen, alloc, 0, 0, 8, map[string]int{"parse_error": 2}, map[string]int64{"requests": 11, "retries": 1, "prompt_tokens": 500})
			// run and save have not started: no step folder at all
			r, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != status || len(r.Steps) != 4 {
				t.Fatalf("status %q, %d steps", r.Status, len(r.Steps))
			}
			s := r.Step("gen")
			if s.RowsIn != 10 || s.RowsOut != 8 || s.Rejected != 2 || s.Rejects["parse_error"] != 2 || s.Counters["requests"] != 11 || s.Depth != 1 {
				t.Errorf("gen: %+v", s)
			}
			if r.Step("src").RowsOut != 20 || r.Step("save").RowsIn != 0 {
				t.Errorf("src out %d, save in %d", r.Step("src").RowsOut, r.Step("save").RowsIn)
			}
			ex := s.Examples["parse_error"]
			if len(ex) != 2 || ex[0].Detail != "answer=0 output=1" || len(ex[0].Data) != 2 || ex[0].Data[0].Value != "row 0 of batch 0" {
				t.Errorf("examples %+v", ex)
			}
			var page bytes.Buffer
			if err := WriteHTML(&page, r, time.Now()); err != nil {
				t.Fatal(err)
			}
			html := page.String()
			for _, want := range []string{"This run is " + status, `data-step="save" data-in="0"`, "answer=0 output=1", "org/model-7b"} {
				if !strings.Contains(html, want) {
					t.Errorf("report lacks %q", want)
				}
			}
		})
	}
}

func TestShardsAddUp(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	root := t.TempDir()
	for i, status := range []string{"complete", "running"} {
		f := newFixture(t, filepath.Join(root, fmt.Sprintf("shard-%04d-of-0002", i)), status, "src", "keep", "save")
		src := f.step("src", "load", nil, nil)
		keep := f.step("keep", "filter", []string{"src"}, map[string]any{"where": "true"})
		save := f.step("save", "write", []string{"keep"}, map[string]any{"path": "out.jsonl"})
		commit(t, src, alloc, uint64(i), i*100, 100, nil, nil)
		commit(t, keep, alloc, uint64(i), i*100, 90, map[string]int{"where is false": 10}, nil)
		if err := save.Commit(&checkpoint.Commit{Seq: uint64(i), RowsIn: 90, RowsOut: 90}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Shards) != 2 || r.Status != "running" {
		t.Errorf("shards %v, status %s", r.Shards, r.Status)
	}
	if s := r.Step("keep"); s.RowsIn != 200 || s.RowsOut != 180 || s.Rejects["where is false"] != 20 || len(s.Examples["where is false"]) != ExamplesPerReason {
		t.Errorf("keep over both shards: %+v", s)
	}
	ds, err := r.Datasets(alloc)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Rows != 180 || ds[0].Sample != 180 || len(ds[0].Lineage) != LineageRows {
		t.Fatalf("datasets %+v", ds)
	}
	if err := WriteFiles(root, time.Now()); err != nil {
		t.Fatal(err)
	}
	card, _ := os.ReadFile(filepath.Join(root, CardName))
	for _, want := range []string{"Shards: 2", "180 rows", "| keep | filter | 200 | 180 | 20 | where is false=20 |", "`variant` in a sample of 180 rows"} {
		if !bytes.Contains(card, []byte(want)) {
			t.Errorf("card lacks %q:\n%s", want, card)
		}
	}
	// written again: caco's own files are replaced, a foreign one is not
	if err := WriteFiles(root, time.Now()); err != nil {
		t.Errorf("rewriting its own files: %v", err)
	}
	os.WriteFile(filepath.Join(root, CardName), []byte("# my card\n"), 0o644)
	if err := WriteFiles(root, time.Now()); err == nil || !strings.Contains(err.Error(), "not replacing") {
		t.Errorf("foreign card: %v", err)
	}
}

// TestMillionRowRun: a run of 1M rows and 100k rejects gives a report under
// 5 MB, built from a bounded sample.
func TestMillionRowRun(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 1M-row run folder")
	}
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	dir := t.TempDir()
	f := newFixture(t, dir, "complete", "src", "keep", "save")
	f.step("src", "load", nil, nil)
	keep := f.step("keep", "filter", []string{"src"}, nil)
	save := f.step("save", "write", []string{"keep"}, map[string]any{"path": "out.parquet", "columns": []string{"problem", "code", "answer", "variant"}})
	const batches, per = 100, 10000
	for b := 0; b < batches; b++ {
		commit(t, keep, alloc, uint64(b), b*per, per, map[string]int{"where is false": 600, "too_short": 300, "exception": 100}, nil)
		if err := save.Commit(&checkpoint.Commit{Seq: uint64(b), RowsIn: per, RowsOut: per}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := r.Datasets(alloc)
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	if err := writeHTML(&page, r, ds, time.Now()); err != nil {
		t.Fatal(err)
	}
	if ds[0].Rows != batches*per || ds[0].Sample != SampleRows {
		t.Errorf("rows %d, sample %d", ds[0].Rows, ds[0].Sample)
	}
	if page.Len() > 5<<20 {
		t.Errorf("report of a 1M-row run is %d bytes", page.Len())
	}
	if !strings.Contains(page.String(), "1,000,000") {
		t.Error("report does not show the row count")
	}
	t.Logf("report of 1M rows and 100k rejects: %d bytes", page.Len())
}

func TestDiversity(t *testing.T) {
	if got := distinctN([][]string{{"a", "b", "a", "b"}}, 1); got != 0.5 {
		t.Errorf("distinct-1 %v", got)
	}
	if got := distinctN([][]string{{"a", "b", "a", "b"}}, 2); math.Abs(got-2.0/3) > 1e-9 {
		t.Errorf("distinct-2 %v", got)
	}
	texts := []string{
		"Tom has three times as many marbles as Jerry and gives him twelve of them",
		"Tom has three times as many marbles as Jerry and gives him twelve of them.",
		"A triangle has side lengths 13, 14 and 15; what is its area in square units?",
		"How many handshakes take place among ten people who all shake hands once?",
	}
	dv := diversity("problem", "problems", texts)
	if dv.NearDupRate != 0.5 || len(dv.Clusters) != 1 || dv.Clusters[0].Size != 2 {
		t.Errorf("near duplicates: rate %v clusters %+v", dv.NearDupRate, dv.Clusters)
	}
	for _, c := range []struct{ in, want string }{
		{"42", "integer"}, {"-3.5", "decimal"}, {"15/8", "fraction"}, {`\frac{1}{2}`, "fraction"}, {`2\sqrt{3}`, "LaTeX expression"}, {"2+3*x", "expression"}, {"yes", "text"}, {"", "empty"},
	} {
		if got := answerType(c.in); got != c.want {
			t.Errorf("answerType(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestQuantile(t *testing.T) {
	h := Hist{Bounds: []float64{0.1, 0.2, 0.4}, Counts: []int64{50, 40, 10, 0}, N: 100}
	for _, c := range []struct{ q, want float64 }{{0.5, 0.1}, {0.9, 0.2}, {0.95, 0.3}} {
		if got := h.Quantile(c.q); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("q%.2f = %v, want %v", c.q, got, c.want)
		}
	}
	if !math.IsNaN((Hist{}).Quantile(0.5)) {
		t.Error("empty histogram has a quantile")
	}
}

func TestNotARunFolder(t *testing.T) {
	_, err := Load(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "is not a run folder") {
		t.Errorf("got %v", err)
	}
}

// TestTimelineCharts: latency percentiles and requests in flight over time
// come from timeline.jsonl; lines older than the run's start (an earlier
// run in the same folder) are ignored.
func TestTimelineCharts(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	dir := t.TempDir()
	f := newFixture(t, dir, "running", "src", "gen")
	f.step("src", "load", nil, nil)
	gen := f.step("gen", "generate", []string{"src"}, map[string]any{"model": "gen"})
	commit(t, gen, alloc, 0, 0, 10, nil, map[string]int64{"requests": 10})
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var tl bytes.Buffer
	bounds := []float64{0.1, 0.2, 0.4}
	for i, inFlight := range []int64{99, 2, 4, 3} {
		snap := Snapshot{Time: start.Add(time.Duration(i-1) * time.Minute), Steps: map[string]StepSnap{"gen": {
			Gauges:  map[string]int64{"requests_in_flight": inFlight},
			Latency: map[string]Hist{"request": {Bounds: bounds, Counts: []int64{0, int64(10 * i), 0, 0}, N: int64(10 * i)}},
		}}}
		b, _ := json.Marshal(snap)
		tl.Write(append(b, '\n'))
	}
	tl.WriteString(`{"t": "cut by a kill` + "\n")
	os.WriteFile(filepath.Join(dir, "timeline.jsonl"), tl.Bytes(), 0o644)
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Timeline) != 3 {
		t.Fatalf("%d snapshots, want the 3 of this run", len(r.Timeline))
	}
	ms := r.modelViews()
	if len(ms) != 1 || !ms[0].Latency || math.Abs(ms[0].P50-0.15) > 1e-9 || ms[0].Model != "org/model-7b" {
		t.Fatalf("model view %+v", ms[0])
	}
	if !strings.Contains(string(ms[0].Concurrency), "<polyline") {
		t.Error("no in-flight chart")
	}
}
