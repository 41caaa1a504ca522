package run

import (
	"fmt"
	"strings"
)

// WaitingError is the error of a run that finished every batch it could but
// left rows waiting on transient failures (op.Result.Deferred): their
// batches were not committed, so running the same command again processes
// exactly them. A run that returns it also returns its Stats.
type WaitingError struct {
	// Rows is the number of rows that got no verdict, over all steps.
	Rows int64
	// Steps lists the steps that deferred rows, in file order.
	Steps []WaitingStep
	// Uncommitted is the number of batches left uncommitted over all steps
	// (the deferring steps and everything downstream of them).
	Uncommitted int64
}

// WaitingStep is one step's share of a WaitingError.
type WaitingStep struct {
	Step string
	// Rows by reason, and the first detail of each reason.
	Rows    map[string]int64
	Details map[string]string
}

func (e *WaitingError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d rows are waiting on transient failures and got no verdict:", e.Rows)
	for _, s := range e.Steps {
		for _, reason := range sortedKeys(s.Rows) {
			fmt.Fprintf(&b, "\n  step %s: %d rows, %s", s.Step, s.Rows[reason], reason)
			if d := s.Details[reason]; d != "" {
				fmt.Fprintf(&b, " (%s)", d)
			}
		}
	}
	fmt.Fprintf(&b, "\n%d batches were not committed; run the same command again to resume: it processes only those batches", e.Uncommitted)
	return b.String()
}

// waiting returns the run's WaitingError, or nil when no row waits.
func (r *runner) waiting() *WaitingError {
	e := &WaitingError{}
	for _, step := range r.p.Recipe.Steps {
		s := r.byName[step.Name]
		rows, details, holes := s.stats.waiting()
		e.Uncommitted += holes
		if len(rows) == 0 {
			continue
		}
		ws := WaitingStep{Step: step.Name, Rows: rows, Details: map[string]string{}}
		for k, v := range details {
			ws.Details[k] = r.p.Recipe.Redact(v)
		}
		for _, n := range rows {
			e.Rows += n
		}
		e.Steps = append(e.Steps, ws)
	}
	if e.Rows == 0 && e.Uncommitted == 0 {
		return nil
	}
	return e
}
