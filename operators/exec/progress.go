package exec

import (
	"context"

	"github.com/caco-dev/caco/engine/op"
)

// Progress names this operator reports to the engine (op.Progress) as
// programs finish: "programs_done", "status_<status>" and the "program"
// run-time histogram.
const (
	ProgressProgramsDone = "programs_done"
	ProgressProgram      = "program"
)

// reportProgram tells the engine a program finished.
func reportProgram(ctx context.Context, o Outcome, err error) {
	p := op.ProgressFrom(ctx)
	p.Count(ProgressProgramsDone, 1)
	if err != nil {
		p.Count("status_sandbox_error", 1)
	} else {
		p.Count("status_"+o.Status, 1)
		p.Observe(ProgressProgram, o.Elapsed.Seconds())
	}
	p.Count(op.ProgressRowsDone, 1)
}
