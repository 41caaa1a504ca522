package main

import (
	"bufio"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caco-dev/caco/operators/generate/llmtest"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// TestMetricsDuringRun scrapes `caco run --metrics-addr 127.0.0.1:0` while a
// generate step waits on a slow test server and parses each scrape with the
// Prometheus text parser: requests in flight and rows done inside the
// batch show up while it runs, and the request-time histogram fills.
func TestMetricsDuringRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := cacoBinary(t)
	srv, err := llmtest.Start(llmtest.Config{Latency: 250 * time.Millisecond}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	recipe := progressRecipe(t, dir, srv.URL(), 24, 100, 4) // ~1.5 s in one batch
	cmd := exec.Command(bin, "run", recipe, "--run-dir", filepath.Join(dir, "run"), "--metrics-addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stderr)
	url := ""
	for lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "caco run: metrics at "); ok {
			url = u
			break
		}
	}
	if url == "" {
		t.Fatal("caco run did not print the metrics address")
	}
	go io.Copy(io.Discard, stderr)

	const step = "a_step_with_a_rather_long_name_for_the_table"
	var sawInFlight, sawPartial bool
	var last map[string]*dto.MetricFamily
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err != nil {
			break // the run ended and took the server with it
		}
		var p expfmt.TextParser
		fams, perr := p.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if perr != nil {
			t.Fatalf("parsing /metrics: %v", perr)
		}
		last = fams
		if v, ok := value(fams, "caco_llm_requests_in_flight", map[string]string{"model": "m"}); ok && v > 0 {
			sawInFlight = true
		}
		if v, ok := value(fams, "caco_step_rows_done_total", map[string]string{"step": step}); ok && v > 0 && v < 24 {
			if in, _ := value(fams, "caco_step_rows_in_total", map[string]string{"step": step}); in == 0 {
				sawPartial = true // rows done inside the batch, none committed yet
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("caco run: %v", err)
	}
	if last == nil {
		t.Fatal("no scrape succeeded")
	}
	if !sawInFlight {
		t.Error("never saw a request in flight")
	}
	if !sawPartial {
		t.Error("never saw rows done inside the uncommitted batch")
	}
	for _, name := range []string{"caco_step_rows_in_total", "caco_step_rows_out_total", "caco_step_rejects_total", "caco_llm_requests_total",
		"caco_llm_retries_total", "caco_llm_tokens_total", "caco_llm_cache_hits_total", "caco_llm_concurrency", "caco_llm_request_seconds"} {
		if _, ok := last[name]; !ok && name != "caco_step_rejects_total" {
			t.Errorf("last scrape lacks %s", name)
		}
	}
	if h := last["caco_llm_request_seconds"]; h != nil && len(h.Metric) > 0 {
		if n := h.Metric[0].GetHistogram().GetSampleCount(); n == 0 {
			t.Error("request histogram is empty")
		}
	}
	if v, _ := value(last, "caco_llm_concurrency", map[string]string{"model": "m"}); v != 4 {
		t.Errorf("concurrency %v, want 4", v)
	}
}

// value finds a sample of a counter or gauge by labels.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}
