package op

import "context"

// Progress receives an operator's progress while it processes a batch, as
// work completes, so that the live table, the progress log, the metrics and
// the run's timeline show rows finishing inside a batch rather than only
// whole batches. It is optional: an operator that reports nothing still has
// its committed batches counted. Calls must be cheap and safe from many
// goroutines.
type Progress interface {
	// Count adds delta to a counter that only grows (ProgressRowsDone,
	// "requests_done", "retries", "completion_tokens", "status_ok", ...).
	Count(name string, delta int64)
	// Gauge moves a gauge up or down ("requests_in_flight").
	Gauge(name string, delta int64)
	// SetGauge sets a gauge ("concurrency": the current limit).
	SetGauge(name string, value int64)
	// Observe records a duration in seconds in a histogram ("request",
	// "program").
	Observe(name string, seconds float64)
}

// Names the engine reads.
const (
	// ProgressRowsDone counts input rows of the batch that are finished.
	// The engine forgets a batch's count when it commits the batch (whose
	// rows then count as done), so operators just count as they go.
	ProgressRowsDone = "rows_done"
)

type progressKey struct{}

// WithProgress returns ctx carrying p (the engine calls it for each
// Process call).
func WithProgress(ctx context.Context, p Progress) context.Context {
	return context.WithValue(ctx, progressKey{}, p)
}

// ProgressFrom returns the Progress of a Process call's ctx, or one that
// drops everything (operator tests, engines that do not track progress).
func ProgressFrom(ctx context.Context) Progress {
	if p, ok := ctx.Value(progressKey{}).(Progress); ok && p != nil {
		return p
	}
	return noProgress{}
}

type noProgress struct{}

func (noProgress) Count(string, int64)     {}
func (noProgress) Gauge(string, int64)     {}
func (noProgress) SetGauge(string, int64)  {}
func (noProgress) Observe(string, float64) {}
