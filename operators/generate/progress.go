package generate

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/operators/generate/internal/llm"
)

// Progress names this operator reports to the engine (op.Progress) as
// requests finish, for the live table, the metrics and the run report.
const (
	ProgressRequestsTotal = "requests_total"     // requests this run has queued
	ProgressRequestsDone  = "requests_done"      // answered or failed
	ProgressInFlight      = "requests_in_flight" // gauge
	ProgressConcurrency   = "concurrency"        // gauge: the model's limit
	ProgressRequest       = "request"            // histogram: seconds per request, retries included
)

// jobProgress counts a batch's jobs as they finish, and its rows once all
// their jobs have.
type jobProgress struct {
	p    op.Progress
	left []atomic.Int32
}

func newJobProgress(ctx context.Context, jobs []*job, conc int) *jobProgress {
	jp := &jobProgress{p: op.ProgressFrom(ctx)}
	rows := 0
	for _, j := range jobs {
		rows = max(rows, j.row+1)
	}
	jp.left = make([]atomic.Int32, rows)
	for _, j := range jobs {
		jp.left[j.row].Add(1)
	}
	jp.p.Count(ProgressRequestsTotal, int64(len(jobs)))
	jp.p.SetGauge(ProgressConcurrency, int64(conc))
	return jp
}

// done reports a finished job (answered from anywhere, or failed).
func (jp *jobProgress) done(j *job) {
	jp.p.Count(ProgressRequestsDone, 1)
	if j.err != nil {
		jp.p.Count(CounterFailed, 1)
	} else {
		jp.p.Count(CounterCompletionTokens, int64(j.resp.CompletionTokens))
		jp.p.Count(CounterPromptTokens, int64(j.resp.PromptTokens))
	}
	if jp.left[j.row].Add(-1) == 0 {
		jp.p.Count(op.ProgressRowsDone, 1)
	}
}

// complete sends a request, reporting it in flight and its latency.
func complete(ctx context.Context, c *llm.Client, req *llm.Request) (llm.Response, llm.Stats, error) {
	p := op.ProgressFrom(ctx)
	p.Gauge(ProgressInFlight, 1)
	start := time.Now()
	resp, st, err := c.Complete(ctx, req)
	p.Gauge(ProgressInFlight, -1)
	p.Observe(ProgressRequest, time.Since(start).Seconds())
	p.Count(CounterRetries, int64(st.Retries))
	p.Count(CounterRequests, int64(st.Attempts))
	return resp, st, err
}
