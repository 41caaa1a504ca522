// Package llmtest is an OpenAI-compatible HTTP server for tests, demos and
// load tests without a GPU: /v1/completions and /v1/chat/completions (with
// n, usage and finish_reason), /v1/models and GET /stats. Replies are
// deterministic — from rules, from a replay file, or a default echo — and
// the server can add latency, cap its parallelism and inject faults (5xx,
// 429 with Retry-After, hangs, replies cut off by max_tokens, connections
// dropped mid-reply).
//
// `caco serve-test-llm` runs it from the command line; tests start it on
// 127.0.0.1:0 with Start.
package llmtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/caco-dev/caco/operators/generate/internal/llm"
)

// Config configures a Server. Fault probabilities are per completion
// request and exclusive (a request gets at most one of 5xx, 429, hang,
// cut); Truncate applies on its own to replies that succeed.
type Config struct {
	// Latency is added to every completion request (after it got a slot).
	Latency time.Duration
	// MaxParallel caps the requests processed at once; more wait for a
	// slot, as on a batching inference server. 0 means no cap.
	MaxParallel int
	// Fail5xx answers this fraction of requests with 500 or 503.
	Fail5xx float64
	// Fail429 answers this fraction with 429 and a Retry-After header.
	Fail429 float64
	// Hang holds this fraction until the client gives up.
	Hang float64
	// Truncate cuts this fraction of replies to half, with finish_reason
	// "length", as if max_tokens had been reached.
	Truncate float64
	// Cut drops the connection halfway through the reply body for this
	// fraction of requests.
	Cut float64
	// RetryAfter is sent with 429s; fractions of a second are written as
	// decimals. Default 1s.
	RetryAfter time.Duration
	// Seed seeds the fault draws.
	Seed uint64
	// Rules give replies to prompts that match them; the first match wins.
	Rules []Rule
	// Replay serves replies from a replay file (as written by
	// `caco run --record DIR`); a request missing from it gets a 404 that
	// names it.
	Replay string
	// APIKey, when set, is required as a Bearer token (401 otherwise).
	APIKey string
	// Models are listed by /v1/models (default "test-model"). Requests for
	// any model are answered.
	Models []string
	// KeepBodies keeps every completion request body for Bodies.
	KeepBodies bool
	// PauseAfter, when > 0, answers that many requests successfully and
	// then holds every further reply until Resume is called (tests use it
	// to stop a run at an exact point).
	PauseAfter int
}

// Rule is a deterministic reply for prompts matching a regexp.
type Rule struct {
	// Match is a Go regexp searched in the prompt (completions) or in the
	// messages' contents joined by blank lines (chat).
	Match string `json:"match" yaml:"match"`
	// Reply is a Go text/template with .Prompt, .Model, .Sample (from the
	// X-Caco-Sample header), .Choice (index within n), .Seed, .Hash (8 hex
	// digits of the request), .Match (the submatches) and .Groups (named
	// submatches).
	Reply string `json:"reply" yaml:"reply"`
	// Status, when not 0, answers with this HTTP status and Reply as the
	// error message.
	Status int `json:"status" yaml:"status"`
	// FinishReason overrides "stop".
	FinishReason string `json:"finish_reason" yaml:"finish_reason"`

	re   *regexp.Regexp
	tmpl *template.Template
}

// Stats counts what the server saw. Requests counts every completion
// request received (chat or not, whatever became of it).
type Stats struct {
	Requests     int64 `json:"requests"`
	OK           int64 `json:"ok"`
	Failed5xx    int64 `json:"failed_5xx"`
	Failed429    int64 `json:"failed_429"`
	Hung         int64 `json:"hung"`
	Truncated    int64 `json:"truncated"`
	Cut          int64 `json:"cut"`
	RuleErrors   int64 `json:"rule_errors"`
	ReplayMisses int64 `json:"replay_misses"`
	BadRequests  int64 `json:"bad_requests"`
	InFlight     int64 `json:"in_flight"`
	MaxInFlight  int64 `json:"max_in_flight"`
}

// Server is the test server.
type Server struct {
	cfg    Config
	replay *llm.Replay
	slots  chan struct{}

	randMu sync.Mutex
	rng    *rand.Rand

	requests, ok, f5xx, f429, hung, truncated, cut, ruleErr, replayMiss, bad atomic.Int64
	inflight, maxInflight                                                    atomic.Int64

	bodyMu sync.Mutex
	bodies []map[string]any

	replies  atomic.Int64 // successful replies started (for PauseAfter)
	resumed  chan struct{}
	resumeMu sync.Once

	hs       *http.Server
	ln       net.Listener
	closing  chan struct{}
	closeMu  sync.Once
	serveErr chan error
}

// New makes a server (not listening; it is an http.Handler).
func New(cfg Config) (*Server, error) {
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if len(cfg.Models) == 0 {
		cfg.Models = []string{"test-model"}
	}
	for name, p := range map[string]float64{"fail-5xx": cfg.Fail5xx, "fail-429": cfg.Fail429, "hang": cfg.Hang, "truncate": cfg.Truncate, "cut": cfg.Cut} {
		if p < 0 || p > 1 {
			return nil, fmt.Errorf("test server: %s must be between 0 and 1, got %g", name, p)
		}
	}
	if cfg.Fail5xx+cfg.Fail429+cfg.Hang+cfg.Cut > 1 {
		return nil, fmt.Errorf("test server: fail-5xx + fail-429 + hang + cut must not exceed 1")
	}
	s := &Server{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)), closing: make(chan struct{}), resumed: make(chan struct{})}
	if cfg.MaxParallel > 0 {
		s.slots = make(chan struct{}, cfg.MaxParallel)
	}
	for i := range s.cfg.Rules {
		r := &s.cfg.Rules[i]
		re, err := regexp.Compile(r.Match)
		if err != nil {
			return nil, fmt.Errorf("test server: rule %d: match: %w", i+1, err)
		}
		r.re = re
		t, err := template.New(fmt.Sprintf("rule%d", i+1)).Option("missingkey=zero").Parse(r.Reply)
		if err != nil {
			return nil, fmt.Errorf("test server: rule %d: reply: %w", i+1, err)
		}
		r.tmpl = t
	}
	if cfg.Replay != "" {
		rp, err := llm.LoadReplay(cfg.Replay)
		if err != nil {
			return nil, fmt.Errorf("test server: %w", err)
		}
		s.replay = rp
	}
	return s, nil
}

// Start makes a server and listens on addr (such as 127.0.0.1:0) in the
// background.
func Start(cfg Config, addr string) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Listen(addr); err != nil {
		return nil, err
	}
	return s, nil
}

// Listen starts serving on addr in the background.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("test server: listening on %s: %w", addr, err)
	}
	s.ln = ln
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.serveErr = make(chan error, 1)
	go func() { s.serveErr <- s.hs.Serve(ln) }()
	return nil
}

// Addr is the listening address (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the API root, http://ADDR/v1.
func (s *Server) URL() string { return "http://" + s.Addr() + "/v1" }

// Wait blocks until the server stops serving.
func (s *Server) Wait() error {
	err := <-s.serveErr
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server at once, ending hung requests.
func (s *Server) Close() error {
	var err error
	s.closeMu.Do(func() {
		close(s.closing)
		if s.hs != nil {
			err = s.hs.Close()
		}
	})
	return err
}

// Shutdown stops accepting requests and waits for those in flight (hung
// ones are ended) until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.closeMu.Do(func() {
		close(s.closing)
		if s.hs != nil {
			err = s.hs.Shutdown(ctx)
		}
	})
	return err
}

// Resume releases the replies held by PauseAfter and stops pausing.
func (s *Server) Resume() { s.resumeMu.Do(func() { close(s.resumed) }) }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Requests: s.requests.Load(), OK: s.ok.Load(), Failed5xx: s.f5xx.Load(), Failed429: s.f429.Load(),
		Hung: s.hung.Load(), Truncated: s.truncated.Load(), Cut: s.cut.Load(), RuleErrors: s.ruleErr.Load(),
		ReplayMisses: s.replayMiss.Load(), BadRequests: s.bad.Load(),
		InFlight: s.inflight.Load(), MaxInFlight: s.maxInflight.Load(),
	}
}

// Bodies returns the completion request bodies received so far (with
// Config.KeepBodies).
func (s *Server) Bodies() []map[string]any {
	s.bodyMu.Lock()
	defer s.bodyMu.Unlock()
	return append([]map[string]any(nil), s.bodies...)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimRight(r.URL.Path, "/")
	switch {
	case path == "/stats" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Stats())
	case (path == "/v1/models" || path == "/models") && r.Method == http.MethodGet:
		var data []map[string]any
		for _, m := range s.cfg.Models {
			data = append(data, map[string]any{"id": m, "object": "model", "owned_by": "caco"})
		}
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
	case path == "/health" && r.Method == http.MethodGet:
		w.WriteHeader(http.StatusOK)
	case path == "/v1/completions" || path == "/completions":
		s.complete(w, r, llm.APICompletions)
	case path == "/v1/chat/completions" || path == "/chat/completions":
		s.complete(w, r, llm.APIChat)
	default:
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	}
}

type fault int

const (
	faultNone fault = iota
	fault5xx
	fault429
	faultHang
	faultCut
)

func (s *Server) draw() (f fault, truncate bool, alt bool) {
	s.randMu.Lock()
	x, y, z := s.rng.Float64(), s.rng.Float64(), s.rng.IntN(2) == 0
	s.randMu.Unlock()
	c := s.cfg
	switch {
	case x < c.Fail5xx:
		f = fault5xx
	case x < c.Fail5xx+c.Fail429:
		f = fault429
	case x < c.Fail5xx+c.Fail429+c.Hang:
		f = faultHang
	case x < c.Fail5xx+c.Fail429+c.Hang+c.Cut:
		f = faultCut
	}
	return f, y < c.Truncate, z
}

func (s *Server) complete(w http.ResponseWriter, r *http.Request, api string) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "use POST")
		return
	}
	s.requests.Add(1)
	if s.cfg.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.cfg.APIKey {
		writeError(w, http.StatusUnauthorized, "invalid_api_key", "missing or wrong API key")
		return
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		s.bad.Add(1)
		writeError(w, http.StatusBadRequest, "invalid_request_error", "request body is not a JSON object: "+err.Error())
		return
	}
	if s.cfg.KeepBodies {
		s.bodyMu.Lock()
		s.bodies = append(s.bodies, body)
		s.bodyMu.Unlock()
	}
	req, n, err := parseRequest(api, body)
	if err != nil {
		s.bad.Add(1)
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	if h := r.Header.Get(llm.SampleHeader); h != "" {
		req.Sample, _ = strconv.Atoi(h)
	}

	f, truncate, alt := s.draw()
	if f == fault429 {
		s.f429.Add(1)
		w.Header().Set("Retry-After", formatSeconds(s.cfg.RetryAfter))
		writeError(w, http.StatusTooManyRequests, "rate_limit_exceeded", "too many requests (injected)")
		return
	}
	ctx := r.Context()
	if s.slots != nil {
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		}
	}
	cur := s.inflight.Add(1)
	// done frees the slot before the reply is written, so that a client
	// that sends its next request as soon as it has read this reply never
	// finds the slot still taken.
	released := false
	done := func() {
		if !released {
			released = true
			s.inflight.Add(-1)
			if s.slots != nil {
				<-s.slots
			}
		}
	}
	defer done()
	for {
		m := s.maxInflight.Load()
		if cur <= m || s.maxInflight.CompareAndSwap(m, cur) {
			break
		}
	}
	if s.cfg.Latency > 0 {
		t := time.NewTimer(s.cfg.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.closing:
			t.Stop()
			return
		}
	}
	switch f {
	case fault5xx:
		s.f5xx.Add(1)
		code := http.StatusServiceUnavailable
		if alt {
			code = http.StatusInternalServerError
		}
		done()
		writeError(w, code, "server_error", "internal error (injected)")
		return
	case faultHang:
		s.hung.Add(1)
		select {
		case <-ctx.Done():
		case <-s.closing:
		}
		return
	}

	maxTokens := -1
	if v, ok := body["max_tokens"].(float64); ok {
		maxTokens = int(v)
	}
	var choices []any
	promptTokens := len(strings.Fields(req.text()))
	completionTokens := 0
	anyTrunc := false
	for i := 0; i < n; i++ {
		sub := *req
		sub.Sample = req.Sample + i
		resp, status, msg := s.reply(&sub, i)
		if status != 0 {
			done()
			writeError(w, status, "invalid_request_error", msg)
			return
		}
		if words := strings.Fields(resp.Text); maxTokens >= 0 && len(words) > maxTokens {
			resp.Text = strings.Join(words[:maxTokens], " ")
			resp.CompletionTokens = maxTokens
			resp.FinishReason = "length"
		}
		if truncate {
			anyTrunc = true
			resp.Text = resp.Text[:cutIndex(resp.Text)]
			resp.CompletionTokens = len(strings.Fields(resp.Text))
			resp.FinishReason = "length"
		}
		if s.replay == nil || resp.PromptTokens == 0 {
			resp.PromptTokens = promptTokens
		}
		completionTokens += resp.CompletionTokens
		if api == llm.APIChat {
			choices = append(choices, map[string]any{"index": i, "finish_reason": resp.FinishReason,
				"message": map[string]any{"role": "assistant", "content": resp.Text}})
		} else {
			choices = append(choices, map[string]any{"index": i, "finish_reason": resp.FinishReason,
				"text": resp.Text, "logprobs": nil})
		}
		promptTokens = resp.PromptTokens
	}
	object := "text_completion"
	if api == llm.APIChat {
		object = "chat.completion"
	}
	out := map[string]any{
		"id": "cmpl-" + req.Key().String()[:24], "object": object, "created": 0, "model": req.Model,
		"choices": choices,
		"usage": map[string]any{"prompt_tokens": promptTokens, "completion_tokens": completionTokens,
			"total_tokens": promptTokens + completionTokens},
	}
	if s.cfg.PauseAfter > 0 && f != faultCut && s.replies.Add(1) > int64(s.cfg.PauseAfter) {
		select {
		case <-s.resumed:
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		}
	}
	if anyTrunc {
		s.truncated.Add(1)
	}
	if f == faultCut {
		s.cut.Add(1)
		b, _ := json.Marshal(out)
		done()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler) // drops the connection
	}
	s.ok.Add(1)
	done()
	writeJSON(w, http.StatusOK, out)
}

// cutIndex is about half of s, on a rune boundary.
func cutIndex(s string) int {
	i := len(s) / 2
	for i > 0 && i < len(s) && s[i]&0xC0 == 0x80 {
		i--
	}
	return i
}

func formatSeconds(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.Itoa(int(d / time.Second))
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// request is a parsed completion request.
type request struct {
	llm.Request
	seed any
}

func (r *request) text() string {
	if r.API == llm.APIChat {
		parts := make([]string, len(r.Messages))
		for i, m := range r.Messages {
			parts[i] = m.Content
		}
		return strings.Join(parts, "\n\n")
	}
	return r.Prompt
}

// bodyFields are the request fields that are not sampling parameters.
var bodyFields = map[string]bool{"model": true, "prompt": true, "messages": true, "n": true, "stream": true}

func parseRequest(api string, body map[string]any) (*request, int, error) {
	r := &request{Request: llm.Request{API: api}}
	model, _ := body["model"].(string)
	if model == "" {
		return nil, 0, errors.New("model is required")
	}
	r.Model = model
	if stream, _ := body["stream"].(bool); stream {
		return nil, 0, errors.New("stream is not supported by the test server")
	}
	n := 1
	if v, ok := body["n"].(float64); ok {
		n = int(v)
		if n < 1 || n > 128 {
			return nil, 0, fmt.Errorf("n must be between 1 and 128, got %d", n)
		}
	}
	if api == llm.APIChat {
		msgs, ok := body["messages"].([]any)
		if !ok || len(msgs) == 0 {
			return nil, 0, errors.New("messages must be a non-empty list")
		}
		for i, m := range msgs {
			mm, ok := m.(map[string]any)
			if !ok {
				return nil, 0, fmt.Errorf("messages[%d] is not an object", i)
			}
			role, _ := mm["role"].(string)
			content, ok := mm["content"].(string)
			if !ok && mm["content"] != nil {
				return nil, 0, fmt.Errorf("messages[%d].content must be a string", i)
			}
			r.Messages = append(r.Messages, llm.Message{Role: role, Content: content})
		}
	} else {
		switch p := body["prompt"].(type) {
		case string:
			r.Prompt = p
		case []any:
			if len(p) != 1 {
				return nil, 0, errors.New("the test server takes one prompt per request")
			}
			s, ok := p[0].(string)
			if !ok {
				return nil, 0, errors.New("prompt must be a string")
			}
			r.Prompt = s
		case nil:
			r.Prompt = ""
		default:
			return nil, 0, errors.New("prompt must be a string")
		}
	}
	params := map[string]any{}
	for k, v := range body {
		if !bodyFields[k] {
			params[k] = v
		}
	}
	p, err := llm.CanonicalParams(params)
	if err != nil {
		return nil, 0, err
	}
	r.Params = p
	r.seed = body["seed"]
	return r, n, nil
}

// reply computes the reply to one choice; a non-zero status is an error
// reply with message msg.
func (s *Server) reply(r *request, choice int) (resp llm.Response, status int, msg string) {
	if s.replay != nil {
		resp, ok := s.replay.Lookup(&r.Request)
		if !ok {
			s.replayMiss.Add(1)
			return llm.Response{}, http.StatusNotFound, "replay file has no response for " + r.Describe()
		}
		return resp, 0, ""
	}
	text := r.text()
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%v\x00%d", r.API, r.Model, text, r.seed, r.Sample)
	hash := hex.EncodeToString(h.Sum(nil))[:8]
	reply := ""
	finish := "stop"
	matched := false
	for i := range s.cfg.Rules {
		rule := &s.cfg.Rules[i]
		m := rule.re.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		groups := map[string]string{}
		for gi, name := range rule.re.SubexpNames() {
			if name != "" {
				groups[name] = m[gi]
			}
		}
		var b bytes.Buffer
		data := map[string]any{"Prompt": text, "Model": r.Model, "Sample": r.Sample, "Choice": choice,
			"Seed": r.seed, "Hash": hash, "Match": m, "Groups": groups}
		if err := rule.tmpl.Execute(&b, data); err != nil {
			s.ruleErr.Add(1)
			return llm.Response{}, http.StatusInternalServerError, fmt.Sprintf("rule %d: %v", i+1, err)
		}
		if rule.Status != 0 {
			s.ruleErr.Add(1)
			return llm.Response{}, rule.Status, b.String()
		}
		reply = b.String()
		if rule.FinishReason != "" {
			finish = rule.FinishReason
		}
		matched = true
		break
	}
	if !matched {
		reply = fmt.Sprintf("reply %s to: %s", hash, llm.Shorten(lastLine(text), 80))
	}
	return llm.Response{Text: reply, FinishReason: finish, CompletionTokens: len(strings.Fields(reply))}, 0, ""
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[i+1:])
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"message":"encoding reply","type":"server_error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": status}})
}
