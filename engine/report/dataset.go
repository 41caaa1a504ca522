package report

import (
	"fmt"
	"hash/fnv"
	"math"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// SampleRows is the most rows of a dataset the report reads.
const SampleRows = 2000

// Dataset is what the report shows of one final dataset (a write step).
type Dataset struct {
	Step string
	Path string
	// Paths are all files written from the same rows (JSONL and Parquet).
	Paths   []string
	Rows    int64
	Columns []Column
	// Sample is how many rows the figures below were computed on.
	Sample  int
	Lengths []LengthHist
	Answers []Share // answer-type mix
	// Mixes are shares of low-cardinality columns (variant, category, ...).
	Mixes     []Mix
	Diversity []Diversity
	// Lineage are a few final rows, each from the widest step whose rows
	// all reach the dataset, grouped by stage.
	LineageStep string
	Lineage     [][]Stage
}

// LengthHist is a histogram of a text column's lengths in characters.
type LengthHist struct {
	Column         string
	Min, Max, Mean int
	Bins           []Bin
}

// Bin is a histogram bin [Lo, Hi).
type Bin struct {
	Lo, Hi float64
	N      int
}

// Share is a value and how many rows have it.
type Share struct {
	Name string
	N    int
}

// Mix is the shares of one column's values.
type Mix struct {
	Column string
	Shares []Share
}

// Diversity are n-gram and near-duplicate figures for a text column.
type Diversity struct {
	Column   string
	Kind     string // problems, programs, text
	Distinct map[int]float64
	// NearDupRate is the share of rows with a near duplicate (estimated
	// Jaccard of word 3-gram shingles >= NearDupThreshold) in the sample.
	NearDupRate float64
	Clusters    []Cluster
}

// Cluster is a group of near-duplicate rows in the sample.
type Cluster struct {
	Size    int
	Example string
}

// NearDupThreshold is the estimated Jaccard similarity above which two rows
// count as near duplicates.
const NearDupThreshold = 0.8

// Stage is one step of a row's lineage.
type Stage struct {
	Name   string
	Fields []Field
}

// Datasets analyses every final dataset on a bounded sample.
func (r *Run) Datasets(alloc memory.Allocator) ([]*Dataset, error) {
	if alloc == nil {
		alloc = memory.NewGoAllocator()
	}
	var out []*Dataset
	byInput := map[string]*Dataset{}
	for _, w := range r.Sinks() {
		if len(w.Inputs) != 1 {
			continue
		}
		if d := byInput[w.Inputs[0]]; d != nil {
			// the same rows in another format
			d.Paths = append(d.Paths, w.ConfigString("path"))
			continue
		}
		d := &Dataset{Step: w.Name, Path: w.ConfigString("path"), Rows: w.RowsOut}
		d.Paths = []string{d.Path}
		byInput[w.Inputs[0]] = d
		rows, err := r.sampleRows(w.Inputs[0], SampleRows, alloc)
		if err != nil {
			return nil, err
		}
		cols, err := r.columns(w.Inputs[0], alloc)
		if err != nil {
			return nil, err
		}
		if want := w.Config["columns"]; want != nil {
			// the file's columns, in the file's order
			keep := map[string]Column{}
			for _, c := range cols {
				keep[c.Name] = c
			}
			cols = nil
			if list, ok := want.([]any); ok {
				for _, n := range list {
					if c, ok := keep[fmt.Sprint(n)]; ok {
						cols = append(cols, c)
					}
				}
			}
		}
		d.Columns = cols
		d.Sample = len(rows)
		d.analyse(rows)
		if err := r.lineage(d, w, alloc); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func (d *Dataset) analyse(rows []Row) {
	if len(rows) == 0 {
		return
	}
	for _, c := range d.Columns {
		if c.Type != "string" {
			continue
		}
		var lens []int
		distinct := map[string]int{}
		for _, r := range rows {
			s, ok := r.Get(c.Name)
			if !ok {
				continue
			}
			lens = append(lens, utf8.RuneCountInString(s))
			if len(distinct) <= 50 {
				distinct[s]++
			}
		}
		if len(lens) == 0 {
			continue
		}
		h := lengthHist(c.Name, lens)
		if h.Mean >= 24 {
			d.Lengths = append(d.Lengths, h)
		}
		lower := strings.ToLower(c.Name)
		if lower == "answer" || lower == "final_answer" {
			mix := map[string]int{}
			for _, r := range rows {
				s, _ := r.Get(c.Name)
				mix[answerType(s)]++
			}
			d.Answers = shares(mix)
		}
		// low-cardinality columns: variant, category, ...
		if len(distinct) > 1 && len(distinct) <= 20 && len(distinct) < len(rows) && h.Mean < 40 && lower != "answer" {
			mix := map[string]int{}
			for _, r := range rows {
				s, _ := r.Get(c.Name)
				mix[s]++
			}
			d.Mixes = append(d.Mixes, Mix{Column: c.Name, Shares: shares(mix)})
		}
		if kind := textKind(lower); kind != "" && h.Mean >= 24 {
			texts := make([]string, 0, len(rows))
			for _, r := range rows {
				s, _ := r.Get(c.Name)
				texts = append(texts, s)
			}
			d.Diversity = append(d.Diversity, diversity(c.Name, kind, texts))
		}
	}
}

func textKind(col string) string {
	switch {
	case strings.Contains(col, "code") || strings.Contains(col, "program"):
		return "programs"
	case strings.Contains(col, "instruction") || strings.Contains(col, "problem") || strings.Contains(col, "question") || col == "prompt":
		return "problems"
	case col == "output" || strings.Contains(col, "solution") || strings.Contains(col, "response"):
		return "solutions"
	}
	return ""
}

func lengthHist(col string, lens []int) LengthHist {
	h := LengthHist{Column: col, Min: lens[0], Max: lens[0]}
	sum := 0
	for _, l := range lens {
		h.Min, h.Max = min(h.Min, l), max(h.Max, l)
		sum += l
	}
	h.Mean = sum / len(lens)
	const nb = 12
	width := math.Max(1, math.Ceil(float64(h.Max-h.Min+1)/nb))
	h.Bins = make([]Bin, nb)
	for i := range h.Bins {
		h.Bins[i] = Bin{Lo: float64(h.Min) + float64(i)*width, Hi: float64(h.Min) + float64(i+1)*width}
	}
	for _, l := range lens {
		i := int(float64(l-h.Min) / width)
		h.Bins[min(i, nb-1)].N++
	}
	for len(h.Bins) > 1 && h.Bins[len(h.Bins)-1].N == 0 {
		h.Bins = h.Bins[:len(h.Bins)-1]
	}
	return h
}

func shares(m map[string]int) []Share {
	var out []Share
	for k, v := range m {
		out = append(out, Share{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Name < out[j].Name
	})
	return out
}

var (
	reInt      = regexp.MustCompile(`^[-+]?\d+$`)
	reDecimal  = regexp.MustCompile(`^[-+]?\d*\.\d+$`)
	reFraction = regexp.MustCompile(`^[-+]?\d+\s*/\s*\d+$`)
)

// answerType classifies a final answer.
func answerType(s string) string {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "empty"
	case reInt.MatchString(s):
		return "integer"
	case reDecimal.MatchString(s):
		return "decimal"
	case reFraction.MatchString(s) || strings.HasPrefix(s, `\frac`) || strings.HasPrefix(s, `\dfrac`):
		return "fraction"
	case strings.Contains(s, `\`):
		return "LaTeX expression"
	case strings.ContainsAny(s, "+-*/^()=") && strings.IndexFunc(s, unicode.IsDigit) >= 0:
		return "expression"
	}
	return "text"
}

// words splits text into lower-case tokens (letters/digits runs and single
// symbols), the unit of n-grams.
func words(s string) []string {
	var out []string
	start := -1
	for i, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, strings.ToLower(s[start:i]))
			start = -1
		}
		if !unicode.IsSpace(r) {
			out = append(out, string(r))
		}
	}
	if start >= 0 {
		out = append(out, strings.ToLower(s[start:]))
	}
	return out
}

// distinctN is the number of distinct n-grams over all texts divided by
// the number of n-grams (distinct-n).
func distinctN(toks [][]string, n int) float64 {
	seen := map[uint64]struct{}{}
	total := 0
	h := fnv.New64a()
	for _, t := range toks {
		for i := 0; i+n <= len(t); i++ {
			h.Reset()
			for _, w := range t[i : i+n] {
				h.Write([]byte(w))
				h.Write([]byte{0})
			}
			seen[h.Sum64()] = struct{}{}
			total++
		}
	}
	if total == 0 {
		return 0
	}
	return float64(len(seen)) / float64(total)
}

const minhashK = 64

func minhash(toks []string) [minhashK]uint64 {
	var sig [minhashK]uint64
	for i := range sig {
		sig[i] = math.MaxUint64
	}
	h := fnv.New64a()
	for i := 0; i+3 <= len(toks) || (i == 0 && len(toks) > 0); i++ {
		h.Reset()
		for _, w := range toks[i:min(i+3, len(toks))] {
			h.Write([]byte(w))
			h.Write([]byte{0})
		}
		x := h.Sum64()
		for k := range sig {
			// k-th hash: x mixed with a per-k odd constant (splitmix64)
			y := x + uint64(k)*0x9E3779B97F4A7C15
			y = (y ^ (y >> 30)) * 0xBF58476D1CE4E5B9
			y = (y ^ (y >> 27)) * 0x94D049BB133111EB
			y ^= y >> 31
			if y < sig[k] {
				sig[k] = y
			}
		}
		if i+3 >= len(toks) {
			break
		}
	}
	return sig
}

func diversity(col, kind string, texts []string) Diversity {
	toks := make([][]string, len(texts))
	for i, t := range texts {
		toks[i] = words(t)
	}
	dv := Diversity{Column: col, Kind: kind, Distinct: map[int]float64{}}
	for _, n := range []int{1, 2, 3, 4} {
		dv.Distinct[n] = distinctN(toks, n)
	}
	sigs := make([][minhashK]uint64, len(toks))
	for i, t := range toks {
		sigs[i] = minhash(t)
	}
	parent := make([]int, len(toks))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	need := int(math.Ceil(NearDupThreshold * minhashK))
	for i := range sigs {
		for j := i + 1; j < len(sigs); j++ {
			eq := 0
			for k := 0; k < minhashK; k++ {
				if sigs[i][k] == sigs[j][k] {
					eq++
				}
			}
			if eq >= need {
				parent[find(i)] = find(j)
			}
		}
	}
	size := map[int]int{}
	first := map[int]int{}
	for i := range parent {
		root := find(i)
		if _, ok := first[root]; !ok {
			first[root] = i
		}
		size[root]++
	}
	dups := 0
	for root, n := range size {
		if n > 1 {
			dups += n
			dv.Clusters = append(dv.Clusters, Cluster{Size: n, Example: cut(texts[first[root]], 300)})
		}
	}
	sort.Slice(dv.Clusters, func(i, j int) bool {
		if dv.Clusters[i].Size != dv.Clusters[j].Size {
			return dv.Clusters[i].Size > dv.Clusters[j].Size
		}
		return dv.Clusters[i].Example < dv.Clusters[j].Example
	})
	if len(dv.Clusters) > 5 {
		dv.Clusters = dv.Clusters[:5]
	}
	if len(texts) > 0 {
		dv.NearDupRate = float64(dups) / float64(len(texts))
	}
	return dv
}

// LineageRows is how many final rows the report shows with their lineage.
const LineageRows = 4

// lineage picks the widest step whose output rows all reach the dataset
// (the write's input, and upstream through steps that pass every row on),
// and shows a few of its rows grouped by stage: seed → Code CoT → executed
// output → problem → solution → verdict.
func (r *Run) lineage(d *Dataset, w *Step, alloc memory.Allocator) error {
	best := ""
	bestCols := -1
	s := r.Step(w.Inputs[0])
	for s != nil {
		cols, err := r.columns(s.Name, alloc)
		if err != nil {
			return err
		}
		if len(cols) > bestCols {
			best, bestCols = s.Name, len(cols)
		}
		// go upstream only through a one-input step that passed every row on
		if len(s.Inputs) != 1 || s.RowsIn != s.RowsOut || s.Rejected != 0 {
			break
		}
		s = r.Step(s.Inputs[0])
	}
	if best == "" {
		return nil
	}
	rows, err := r.sampleRows(best, LineageRows, alloc)
	if err != nil {
		return err
	}
	d.LineageStep = best
	for _, row := range rows {
		d.Lineage = append(d.Lineage, stages(row))
	}
	return nil
}

var stageOrder = []struct {
	name string
	cols []string
}{
	{"seed", []string{"seed_id", "id", "category", "cot_id", "variant", "sample"}},
	{"Code CoT", []string{"code", "program"}},
	{"executed output", []string{"code_input", "code_output", "input", "output", "status", "exec_ms"}},
	{"problem", []string{"instruction", "problem", "question"}},
	{"solution", []string{"solution", "response"}},
	{"verdict", []string{"answer", "final_answer", "match", "match_reason", "judge", "verdict", "judgement", "reason"}},
}

func stages(row Row) []Stage {
	used := map[string]bool{}
	byName := map[string]Field{}
	for _, f := range row.Fields {
		byName[f.Name] = f
	}
	var out []Stage
	for _, st := range stageOrder {
		var fs []Field
		cols := st.cols
		if _, ok := byName["code_output"]; ok {
			// Caco's naming: output is the solution, code_output the program's
			switch st.name {
			case "executed output":
				cols = []string{"code_input", "code_output", "input", "status", "exec_ms"}
			case "solution":
				cols = []string{"solution", "output", "response"}
			}
		}
		for _, c := range cols {
			if f, ok := byName[c]; ok && !used[c] {
				fs = append(fs, f)
				used[c] = true
			}
		}
		if len(fs) > 0 {
			out = append(out, Stage{Name: st.name, Fields: fs})
		}
	}
	var rest []Field
	for _, f := range row.Fields {
		if !used[f.Name] {
			rest = append(rest, f)
		}
	}
	if len(rest) > 0 {
		out = append(out, Stage{Name: "other columns", Fields: rest})
	}
	return out
}
