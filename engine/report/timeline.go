package report

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"time"
)

// Snapshot is one line of timeline.jsonl: the live counts of every active
// step at a moment of the run, as the runner's progress keeps them.
type Snapshot struct {
	Time    time.Time           `json:"t"`
	Elapsed float64             `json:"elapsed"`
	Steps   map[string]StepSnap `json:"steps"`
}

// StepSnap is one step's live counts in a snapshot.
type StepSnap struct {
	RowsIn   int64            `json:"rows_in"`
	RowsDone int64            `json:"rows_done"`
	RowsOut  int64            `json:"rows_out"`
	Rejected int64            `json:"rejected"`
	InFlight int64            `json:"in_flight"`
	Counters map[string]int64 `json:"counters,omitempty"`
	Gauges   map[string]int64 `json:"gauges,omitempty"`
	Latency  map[string]Hist  `json:"latency,omitempty"`
}

// Hist is a latency histogram: Counts[i] observations <= Bounds[i] (not
// cumulative), the last count above every bound.
type Hist struct {
	Bounds []float64 `json:"bounds"`
	Counts []int64   `json:"counts"`
	Sum    float64   `json:"sum"`
	N      int64     `json:"n"`
}

// Quantile estimates the q-th quantile (0..1) from the buckets, by linear
// interpolation inside the bucket.
func (h Hist) Quantile(q float64) float64 {
	if h.N == 0 || len(h.Counts) == 0 {
		return math.NaN()
	}
	rank := q * float64(h.N)
	var acc float64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		if acc+float64(c) >= rank {
			lo := 0.0
			if i > 0 {
				lo = h.Bounds[i-1]
			}
			hi := lo * 2
			if i < len(h.Bounds) {
				hi = h.Bounds[i]
			}
			return lo + (hi-lo)*(rank-acc)/float64(c)
		}
		acc += float64(c)
	}
	return h.Bounds[len(h.Bounds)-1]
}

// Merge adds o to h (same bounds).
func (h Hist) Merge(o Hist) Hist {
	if len(h.Counts) == 0 {
		return Hist{Bounds: o.Bounds, Counts: append([]int64(nil), o.Counts...), Sum: o.Sum, N: o.N}
	}
	if len(o.Counts) != len(h.Counts) {
		return h
	}
	for i := range o.Counts {
		h.Counts[i] += o.Counts[i]
	}
	h.Sum += o.Sum
	h.N += o.N
	return h
}

// maxTimeline is the most snapshots kept from a timeline file: longer
// timelines are thinned evenly as they are read.
const maxTimeline = 600

func readTimeline(path string) ([]Snapshot, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading timeline: %w", err)
	}
	defer f.Close()
	var out []Snapshot
	keepEvery := 1
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	var last Snapshot
	for sc.Scan() {
		var s Snapshot
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			continue // a line cut by a kill
		}
		last = s
		n++
		if n%keepEvery != 0 {
			continue
		}
		out = append(out, s)
		if len(out) >= maxTimeline {
			// keep every other one and halve the rate from now on
			k := 0
			for i := 0; i < len(out); i += 2 {
				out[k] = out[i]
				k++
			}
			out = out[:k]
			keepEvery *= 2
		}
	}
	if n > 0 && (len(out) == 0 || !out[len(out)-1].Time.Equal(last.Time)) {
		out = append(out, last)
	}
	return out, nil
}
