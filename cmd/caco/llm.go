package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/caco-dev/caco/operators/generate/llmtest"
	"go.yaml.in/yaml/v3"
)

// serveTestLLMMain runs the OpenAI-compatible test server until ctx ends:
//
//	caco serve-test-llm --addr 127.0.0.1:PORT [--latency 50ms] [--max-parallel N]
//	    [--fail-5xx 0.2] [--fail-429 0.05] [--hang 0.02] [--truncate 0.05] [--replay FILE]
func serveTestLLMMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve-test-llm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8000", "listen address host:port (port 0 picks a free one)")
	latency := fs.Duration("latency", 0, "added to every completion request")
	maxParallel := fs.Int("max-parallel", 0, "requests processed at once; more wait for a slot (0: no limit)")
	fail5xx := fs.Float64("fail-5xx", 0, "fraction of requests answered 500/503")
	fail429 := fs.Float64("fail-429", 0, "fraction of requests answered 429 with Retry-After")
	hang := fs.Float64("hang", 0, "fraction of requests that hang until the client gives up")
	truncate := fs.Float64("truncate", 0, "fraction of replies cut to half with finish_reason \"length\"")
	cut := fs.Float64("cut", 0, "fraction of replies whose connection is dropped halfway through the body")
	retryAfter := fs.Duration("retry-after", time.Second, "Retry-After sent with 429s")
	seed := fs.Uint64("seed", 1, "seed of the fault draws")
	replay := fs.String("replay", "", "answer from a replay file (JSONL written by `caco run --record DIR`)")
	rules := fs.String("rules", "", "reply rules: a YAML or JSON list of {match: REGEXP, reply: TEMPLATE, status: N, finish_reason: S}")
	models := fs.String("models", "test-model", "comma-separated model names listed by /v1/models")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: caco serve-test-llm --addr 127.0.0.1:PORT [--latency 50ms] [--max-parallel N] [--fail-5xx 0.2] [--fail-429 0.05] [--hang 0.02] [--truncate 0.05] [--replay FILE]")
		fmt.Fprintln(stderr, "\nAn OpenAI-compatible server (/v1/completions, /v1/chat/completions, /v1/models, GET /stats) with deterministic replies, for trying recipes and load tests without a GPU.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return exitUsage
	}
	cfg := llmtest.Config{
		Latency: *latency, MaxParallel: *maxParallel,
		Fail5xx: *fail5xx, Fail429: *fail429, Hang: *hang, Truncate: *truncate, Cut: *cut,
		RetryAfter: *retryAfter, Seed: *seed, Replay: *replay,
	}
	for _, m := range strings.Split(*models, ",") {
		if m = strings.TrimSpace(m); m != "" {
			cfg.Models = append(cfg.Models, m)
		}
	}
	if *rules != "" {
		data, err := os.ReadFile(*rules)
		if err != nil {
			fmt.Fprintf(stderr, "caco serve-test-llm: reading rules: %v\n", err)
			return exitFail
		}
		if err := yaml.Unmarshal(data, &cfg.Rules); err != nil {
			if jerr := json.Unmarshal(data, &cfg.Rules); jerr != nil {
				fmt.Fprintf(stderr, "caco serve-test-llm: reading rules %s: %v\n", *rules, err)
				return exitFail
			}
		}
	}
	srv, err := llmtest.Start(cfg, *addr)
	if err != nil {
		fmt.Fprintf(stderr, "caco serve-test-llm: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "serving an OpenAI-compatible test API at %s (stats at http://%s/stats)\n", srv.URL(), srv.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			fmt.Fprintf(stderr, "caco serve-test-llm: %v\n", err)
			return exitFail
		}
		return exitOK
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	st := srv.Stats()
	fmt.Fprintf(stdout, "stopped after %d requests (%d ok, %d 5xx, %d 429, %d hung, %d truncated)\n",
		st.Requests, st.OK, st.Failed5xx, st.Failed429, st.Hung, st.Truncated)
	return exitOK
}
