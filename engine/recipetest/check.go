package recipetest

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/caco-dev/caco/engine/run"
)

// Check compares a completed run's stats and outputs with the test's
// expectations, in test file order. It returns every failure and the
// number of expectations compared.
func Check(t *Test, stats *run.Stats, outputs map[string]*Output) ([]Failure, int) {
	c := &checker{}
	byName := map[string]*run.StepStats{}
	for _, s := range stats.Steps {
		byName[s.Step] = s
	}
	for _, e := range t.Steps {
		s, ok := byName[e.Name]
		subject := "step " + e.Name
		if !ok {
			c.fail(Failure{Pos: e.Pos, Subject: subject, Field: "stats", Message: "the run reported no such step"})
			continue
		}
		c.count(subject, KeyRowsIn, e.RowsIn, s.RowsIn)
		c.count(subject, KeyRowsOut, e.RowsOut, s.RowsOut)
		c.count(subject, KeyRejected, e.Rejected, s.Rejected)
		if e.Rejects != nil {
			for _, r := range e.RejectNames {
				c.count(subject, KeyRejects+"."+r, e.Rejects[r], s.Rejects[r])
			}
			for _, r := range sortedKeys(s.Rejects) {
				if _, listed := e.Rejects[r]; !listed && s.Rejects[r] > 0 {
					c.fail(Failure{Pos: e.RejectsPos, Subject: subject, Field: KeyRejects + "." + r,
						Want: "0 (not listed)", Got: strconv.FormatInt(s.Rejects[r], 10)})
				}
			}
		}
		for _, k := range e.CounterNames {
			c.count(subject, KeyCounters+"."+k, e.Counters[k], s.Counters[k])
		}
	}
	for _, e := range t.Outputs {
		c.output(e, outputs[e.Path])
	}
	return c.failures, c.checks
}

type checker struct {
	failures []Failure
	checks   int
}

func (c *checker) fail(f Failure) { c.failures = append(c.failures, f) }

func (c *checker) count(subject, field string, want *Count, got int64) {
	if want == nil {
		return
	}
	c.checks++
	if !want.Match(got) {
		c.fail(Failure{Pos: want.Pos, Subject: subject, Field: field, Want: want.String(), Got: strconv.FormatInt(got, 10)})
	}
}

func (c *checker) output(e *OutputExpect, o *Output) {
	subject := "output " + e.Path
	c.checks++
	if o == nil {
		c.fail(Failure{Pos: e.Pos, Subject: subject, Field: "file", Message: "not read"})
		return
	}
	if o.Err != nil {
		c.fail(Failure{Pos: e.Pos, Subject: subject, Field: "file", Message: "reading: " + o.Err.Error()})
		return
	}
	c.count(subject, KeyRows, e.Rows, int64(len(o.Rows)))
	for i, col := range e.Columns {
		c.checks++
		if !contains(o.Columns, col) {
			c.fail(Failure{Pos: e.ColPos[i], Subject: subject, Field: KeyColumns,
				Message: fmt.Sprintf("no column %q", col), Detail: []string{"columns: " + listOr(o.Columns, "none")}})
		}
	}
	if len(e.Contains) == 0 {
		return
	}
	got := match(e.Contains, o.Rows)
	for i, w := range e.Contains {
		c.checks++
		if got[i] >= 0 {
			continue
		}
		f := Failure{Pos: w.Pos, Subject: subject, Field: fmt.Sprintf("%s[%d]", KeyContains, i),
			Message: "missing row " + showRow(w.Keys, w.Values)}
		j := closest(w, o.Rows)
		switch {
		case j < 0:
			f.Detail = []string{"the file has no rows"}
		case rowMatches(w, o.Rows[j]):
			f.Detail = []string{fmt.Sprintf("every row that matches is already matched by another expected row (e.g. row %d of %d)", j+1, len(o.Rows))}
		default:
			f.Detail = append([]string{fmt.Sprintf("closest: row %d of %d: %s", j+1, len(o.Rows), showRow(w.Keys, o.Rows[j]))},
				indent(rowDiff(w, o.Rows[j]))...)
		}
		c.fail(f)
	}
}

func indent(lines []string) []string {
	for i := range lines {
		lines[i] = "  " + lines[i]
	}
	return lines
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
