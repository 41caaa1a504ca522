// Package metrics serves a running caco run's live counts as Prometheus
// metrics (`caco run --metrics-addr`). It is fed by the runner's own stats
// (run.Monitor): operators report progress to the runner, never to
// Prometheus.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/caco-dev/caco/engine/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var (
	dRowsIn    = prometheus.NewDesc("caco_step_rows_in_total", "Input rows of the step's committed batches (this run and resumed ones).", []string{"step", "op"}, nil)
	dRowsDone  = prometheus.NewDesc("caco_step_rows_done_total", "Input rows the step has finished, inside batches not yet committed too.", []string{"step", "op"}, nil)
	dRowsOut   = prometheus.NewDesc("caco_step_rows_out_total", "Rows the step sent downstream.", []string{"step", "op"}, nil)
	dRejects   = prometheus.NewDesc("caco_step_rejects_total", "Rows the step rejected, by reason.", []string{"step", "reason"}, nil)
	dBusy      = prometheus.NewDesc("caco_step_batches_in_process", "Batches the step is processing now.", []string{"step"}, nil)
	dBatches   = prometheus.NewDesc("caco_step_batches_total", "Committed batches of the step (resumed ones included).", []string{"step"}, nil)
	dFinished  = prometheus.NewDesc("caco_step_finished", "1 once the step has finished.", []string{"step"}, nil)
	dRequests  = prometheus.NewDesc("caco_llm_requests_total", "HTTP requests sent to the model, retries included.", []string{"model"}, nil)
	dDone      = prometheus.NewDesc("caco_llm_requests_done_total", "Requests answered or failed (from any source: server, cache, replay).", []string{"model"}, nil)
	dQueued    = prometheus.NewDesc("caco_llm_requests_queued_total", "Requests queued by the steps that use the model.", []string{"model"}, nil)
	dInFlight  = prometheus.NewDesc("caco_llm_requests_in_flight", "Requests waiting for the model's server now.", []string{"model"}, nil)
	dRetries   = prometheus.NewDesc("caco_llm_retries_total", "Retried requests.", []string{"model"}, nil)
	dErrors    = prometheus.NewDesc("caco_llm_errors_total", "Requests that failed after their retries.", []string{"model"}, nil)
	dCacheHits = prometheus.NewDesc("caco_llm_cache_hits_total", "Answers from the response cache.", []string{"model"}, nil)
	dTokens    = prometheus.NewDesc("caco_llm_tokens_total", "Tokens of answered requests.", []string{"model", "kind"}, nil)
	dConc      = prometheus.NewDesc("caco_llm_concurrency", "The model's concurrency limit.", []string{"model"}, nil)
	dLatency   = prometheus.NewDesc("caco_llm_request_seconds", "Time per request, retries included.", []string{"model"}, nil)
	dPrograms  = prometheus.NewDesc("caco_exec_programs_total", "Programs run, by status.", []string{"step", "status"}, nil)
	dProgTime  = prometheus.NewDesc("caco_exec_program_seconds", "Run time of programs.", []string{"step"}, nil)
)

// Collector turns a run.Monitor's snapshot into metrics at each scrape.
type Collector struct {
	mon *run.Monitor
}

// NewCollector returns a collector over mon.
func NewCollector(mon *run.Monitor) *Collector { return &Collector{mon: mon} }

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dRowsIn, dRowsDone, dRowsOut, dRejects, dBusy, dBatches, dFinished, dRequests, dDone, dQueued,
		dInFlight, dRetries, dErrors, dCacheHits, dTokens, dConc, dLatency, dPrograms, dProgTime} {
		ch <- d
	}
}

type model struct {
	counters map[string]int64
	gauges   map[string]int64
	latency  run.HistSnapshot
}

// Collect reads the snapshot.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	models := map[string]*model{}
	for _, s := range c.mon.Snapshot() {
		counter(dRowsIn, s.RowsIn, s.Step, s.Op)
		counter(dRowsDone, s.RowsDone, s.Step, s.Op)
		counter(dRowsOut, s.RowsOut, s.Step, s.Op)
		counter(dBatches, s.Batches, s.Step)
		gauge(dBusy, s.Busy, s.Step)
		fin := int64(0)
		if s.Finished {
			fin = 1
		}
		gauge(dFinished, fin, s.Step)
		for _, reason := range keys(s.Rejects) {
			counter(dRejects, s.Rejects[reason], s.Step, reason)
		}
		if s.Model != "" {
			m := models[s.Model]
			if m == nil {
				m = &model{counters: map[string]int64{}, gauges: map[string]int64{}}
				models[s.Model] = m
			}
			for k, v := range s.Counters {
				m.counters[k] += v
			}
			for k, v := range s.Gauges {
				if k == "concurrency" {
					m.gauges[k] = max(m.gauges[k], v) // one limit per model
				} else {
					m.gauges[k] += v
				}
			}
			m.latency = merge(m.latency, s.Latency["request"])
		}
		for _, k := range keys(s.Counters) {
			if st, ok := strings.CutPrefix(k, "status_"); ok {
				counter(dPrograms, s.Counters[k], s.Step, st)
			}
		}
		if h, ok := s.Latency["program"]; ok {
			ch <- histogram(dProgTime, h, s.Step)
		}
	}
	for _, name := range keys(models) {
		m := models[name]
		counter(dRequests, m.counters["requests"], name)
		counter(dDone, m.counters["requests_done"], name)
		counter(dQueued, m.counters["requests_total"], name)
		counter(dRetries, m.counters["retries"], name)
		counter(dErrors, m.counters["llm_errors"], name)
		counter(dCacheHits, m.counters["cache_hits"], name)
		counter(dTokens, m.counters["prompt_tokens"], name, "prompt")
		counter(dTokens, m.counters["completion_tokens"], name, "completion")
		gauge(dInFlight, m.gauges["requests_in_flight"], name)
		gauge(dConc, m.gauges["concurrency"], name)
		if m.latency.N > 0 {
			ch <- histogram(dLatency, m.latency, name)
		}
	}
}

func merge(a, b run.HistSnapshot) run.HistSnapshot {
	if len(b.Counts) == 0 {
		return a
	}
	if len(a.Counts) == 0 {
		return run.HistSnapshot{Bounds: b.Bounds, Counts: append([]int64(nil), b.Counts...), Sum: b.Sum, N: b.N}
	}
	for i := range a.Counts {
		a.Counts[i] += b.Counts[i]
	}
	a.Sum += b.Sum
	a.N += b.N
	return a
}

// histogram converts a snapshot (counts per bucket) to Prometheus's
// cumulative buckets.
func histogram(d *prometheus.Desc, h run.HistSnapshot, labels ...string) prometheus.Metric {
	buckets := map[float64]uint64{}
	var acc uint64
	for i, b := range h.Bounds {
		acc += uint64(h.Counts[i])
		buckets[b] = acc
	}
	return prometheus.MustNewConstHistogram(d, uint64(h.N), h.Sum, buckets, labels...)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Server is a running /metrics endpoint.
type Server struct {
	// Addr is the address it listens on (with the real port when the
	// requested one was 0).
	Addr string
	srv  *http.Server
	done chan error
}

// Serve listens on addr and serves /metrics for mon until Close.
func Serve(addr string, mon *run.Monitor) (*Server, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(NewCollector(mon)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listening on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	s := &Server{Addr: ln.Addr().String(), srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
