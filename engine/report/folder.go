// Package report reads a run folder — its manifest, the steps' commit
// records, their rejects and a bounded sample of committed rows — and
// renders what a person needs to judge the run: a self-contained HTML report
// (report.html) and a dataset card (DATASET_CARD.md).
//
// It never needs the runner in memory: everything comes from files the
// runner commits as it goes, so it works on a complete run, a failed one, one
// that is still going, and on a folder of shards (runs/<name>/shard-*-of-*),
// which it adds up. It never reads a whole dataset: counts come from commit
// records, examples and dataset figures from a bounded sample of batches.
package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/caco-dev/caco/engine/checkpoint"
)

// Run is what the report knows about a run folder.
type Run struct {
	Dir     string
	Recipe  string
	File    string
	Command string
	Hash    string
	Status  string
	Started time.Time
	Updated time.Time
	// Models maps a model's name in the recipe to the model it serves.
	Models map[string]string
	// Shards are the shard folders added up (empty for an unsharded run).
	Shards []string
	Steps  []*Step
	// Timeline holds progress snapshots (timeline.jsonl), if any.
	Timeline []Snapshot
	byName   map[string]*Step
	dirs     []string // the run folders read (one per shard)
}

// Step is one step's totals over its committed batches.
type Step struct {
	Name     string
	Op       string
	Inputs   []string
	Config   map[string]any
	RowsIn   int64
	RowsOut  int64
	Rejected int64
	Rejects  map[string]int64
	Counters map[string]int64
	Batches  int64
	Seconds  float64
	// Examples holds a few rejected rows per reason.
	Examples map[string][]Example
	// Depth is the step's layer in the DAG (sources are 0).
	Depth int
}

// Example is one rejected row from the ledger.
type Example struct {
	Batch  string
	Row    int
	Detail string
	Data   []Field
}

// Field is a column of a row, its value as text (truncated when long).
type Field struct {
	Name  string
	Value string
	Cut   bool
}

type manifestFile struct {
	Recipe  string            `json:"recipe"`
	File    string            `json:"file"`
	Command string            `json:"command"`
	Hash    string            `json:"recipe_sha256"`
	Status  string            `json:"status"`
	Started time.Time         `json:"started"`
	Updated time.Time         `json:"updated"`
	Steps   []string          `json:"steps"`
	Models  map[string]string `json:"models"`
	PID     int               `json:"pid"`
}

// ErrNoRun means the folder holds no run (no manifest).
var ErrNoRun = errors.New("no run")

// ExamplesPerReason is how many rejected rows the report shows per step and
// reason.
const ExamplesPerReason = 3

// maxValue is the longest value shown for a field, in bytes.
const maxValue = 1200

// Load reads a run folder, or a folder of shard folders.
func Load(dir string) (*Run, error) {
	dirs, shards, err := runDirs(dir)
	if err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	r := &Run{Dir: dir, Shards: shards, byName: map[string]*Step{}, Models: map[string]string{}, dirs: dirs}
	for i, d := range dirs {
		if err := r.add(d, i == 0); err != nil {
			return nil, err
		}
	}
	r.depths()
	for _, d := range dirs {
		tl, err := readTimeline(filepath.Join(d, "timeline.jsonl"))
		if err != nil {
			return nil, err
		}
		// snapshots of this run only (a resumed or --fresh run starts anew;
		// the file keeps the earlier runs' lines)
		for _, snap := range tl {
			if !snap.Time.Before(r.Started) {
				r.Timeline = append(r.Timeline, snap)
			}
		}
	}
	sort.SliceStable(r.Timeline, func(i, j int) bool { return r.Timeline[i].Time.Before(r.Timeline[j].Time) })
	return r, nil
}

// runDirs returns the run folders under dir: dir itself, or its shard
// folders when dir has no manifest of its own.
func runDirs(dir string) (dirs, shards []string, err error) {
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		return []string{dir}, nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading run folder: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "shard-") {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), "manifest.json")); err == nil {
				dirs = append(dirs, filepath.Join(dir, e.Name()))
				shards = append(shards, e.Name())
			}
		}
	}
	if len(dirs) == 0 {
		return nil, nil, fmt.Errorf("%s is not a run folder: it has no manifest.json and no shard-*/manifest.json (run `caco run RECIPE` first, or give the folder it printed): %w", dir, ErrNoRun)
	}
	return dirs, shards, nil
}

// add reads one run folder into r.
func (r *Run) add(dir string, first bool) error {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return fmt.Errorf("reading manifest: %w", err)
	}
	var m manifestFile
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("reading %s: %w", filepath.Join(dir, "manifest.json"), err)
	}
	if first {
		r.Recipe, r.File, r.Command, r.Hash, r.Status = m.Recipe, m.File, m.Command, m.Hash, m.Status
		r.Started, r.Updated = m.Started, m.Updated
	} else {
		if m.Started.Before(r.Started) {
			r.Started = m.Started
		}
		if m.Updated.After(r.Updated) {
			r.Updated = m.Updated
		}
		// the run as a whole is as far as its least advanced shard
		if rank(m.Status) < rank(r.Status) {
			r.Status = m.Status
		}
	}
	for k, v := range m.Models {
		r.Models[k] = v
	}
	for _, name := range m.Steps {
		s := r.byName[name]
		if s == nil {
			s = &Step{Name: name, Rejects: map[string]int64{}, Counters: map[string]int64{}, Examples: map[string][]Example{}}
			r.byName[name] = s
			r.Steps = append(r.Steps, s)
		}
		if err := s.add(filepath.Join(dir, "steps", name)); err != nil {
			return fmt.Errorf("step %s: %w", name, err)
		}
	}
	return nil
}

func rank(status string) int {
	switch status {
	case "complete":
		return 3
	case "running":
		return 2
	case "interrupted":
		return 1
	}
	return 0 // failed, unknown
}

// add reads a step folder's fingerprint and commit records.
func (s *Step) add(dir string) error {
	var info checkpoint.StepInfo
	b, err := os.ReadFile(filepath.Join(dir, "fingerprint.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // not started yet
	}
	if err != nil {
		return fmt.Errorf("reading fingerprint: %w", err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return fmt.Errorf("reading %s: %w", filepath.Join(dir, "fingerprint.json"), err)
	}
	s.Op, s.Inputs = info.Op, info.Inputs
	if len(info.Config) > 0 && s.Config == nil {
		_ = json.Unmarshal(info.Config, &s.Config)
	}
	ss := &checkpoint.StepStore{Dir: dir}
	commits, err := ss.Commits()
	if err != nil {
		return fmt.Errorf("reading commits: %w", err)
	}
	for _, c := range commits {
		s.RowsIn += c.RowsIn
		s.RowsOut += c.RowsOut
		s.Batches++
		s.Seconds += c.Seconds
		for k, v := range c.Rejects {
			s.Rejects[k] += v
			s.Rejected += v
		}
		for k, v := range c.Counters {
			s.Counters[k] += v
		}
	}
	// a few examples per reason, reading ledgers until every reason has
	// enough (bounded: never the whole ledger of a big run)
	var read int64
	for _, c := range commits {
		if !c.HasRejects() || s.examplesFull() || read > 256<<20 {
			break
		}
		need := false
		for k := range c.Rejects {
			need = need || len(s.Examples[k]) < ExamplesPerReason
		}
		if !need {
			continue
		}
		lines, err := ss.Rejects(c)
		if err != nil {
			return err
		}
		read += int64(len(lines))
		s.addExamples(lines)
	}
	return nil
}

func (s *Step) examplesFull() bool {
	for k := range s.Rejects {
		if len(s.Examples[k]) < ExamplesPerReason {
			return false
		}
	}
	return true
}

type ledgerLine struct {
	Batch  string          `json:"batch"`
	Row    int             `json:"row"`
	Reason string          `json:"reason"`
	Detail string          `json:"detail"`
	Data   json.RawMessage `json:"data"`
}

func (s *Step) addExamples(lines []byte) {
	sc := bufio.NewScanner(bytes.NewReader(lines))
	sc.Buffer(make([]byte, 0, 64<<10), 256<<20)
	for sc.Scan() {
		var l ledgerLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			continue
		}
		if len(s.Examples[l.Reason]) >= ExamplesPerReason {
			continue
		}
		s.Examples[l.Reason] = append(s.Examples[l.Reason], Example{Batch: l.Batch, Row: l.Row, Detail: cut(l.Detail, maxValue), Data: fields(l.Data)})
	}
}

// fields turns a JSON row into fields in the row's own key order.
func fields(raw json.RawMessage) []Field {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		var v any
		_ = json.Unmarshal(raw, &v)
		s := text(v)
		return []Field{{Name: "data", Value: cut(s, maxValue), Cut: len(s) > maxValue}}
	}
	var out []Field
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return out
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return out
		}
		s := text(v)
		out = append(out, Field{Name: fmt.Sprint(kt), Value: cut(s, maxValue), Cut: len(s) > maxValue})
	}
	return out
}

// text renders a decoded JSON value: strings as they are, the rest as JSON.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "null"
	case json.Number:
		return x.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// do not split a UTF-8 sequence
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// depths assigns each step its DAG layer.
func (r *Run) depths() {
	var depth func(s *Step, seen map[string]bool) int
	depth = func(s *Step, seen map[string]bool) int {
		if seen[s.Name] {
			return s.Depth
		}
		seen[s.Name] = true
		d := 0
		for _, in := range s.Inputs {
			if u := r.byName[in]; u != nil {
				d = max(d, depth(u, seen)+1)
			}
		}
		s.Depth = d
		return d
	}
	seen := map[string]bool{}
	for _, s := range r.Steps {
		depth(s, seen)
	}
}

// Step returns a step by name.
func (r *Run) Step(name string) *Step { return r.byName[name] }

// consumers returns the steps that read from name.
func (r *Run) consumers(name string) []*Step {
	var out []*Step
	for _, s := range r.Steps {
		for _, in := range s.Inputs {
			if in == name {
				out = append(out, s)
			}
		}
	}
	return out
}

// Sinks are the steps that write final datasets: write steps.
func (r *Run) Sinks() []*Step {
	var out []*Step
	for _, s := range r.Steps {
		if s.Op == "write" {
			out = append(out, s)
		}
	}
	return out
}

// ConfigString returns a step's config value as text ("" when unset).
func (s *Step) ConfigString(key string) string {
	v, ok := s.Config[key]
	if !ok || v == nil {
		return ""
	}
	return text(v)
}

// Seconds is the run's wall time so far.
func (r *Run) Seconds() float64 {
	if r.Updated.IsZero() || r.Started.IsZero() {
		return 0
	}
	return r.Updated.Sub(r.Started).Seconds()
}
