package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// script is an HTTP handler answering completion requests from a list of
// steps, one per request (the last repeats), and keeping the bodies.
type script struct {
	mu     sync.Mutex
	steps  []step
	n      int
	bodies []map[string]any
	heads  []http.Header
}

type step struct {
	status     int
	retryAfter string
	body       string        // reply body; default: a completion "ok"
	hang       bool          // wait until the client gives up
	cut        bool          // drop the connection mid-body
	delay      time.Duration // before replying
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	s.mu.Lock()
	st := s.steps[min(s.n, len(s.steps)-1)]
	s.n++
	s.bodies = append(s.bodies, body)
	s.heads = append(s.heads, r.Header.Clone())
	s.mu.Unlock()
	if st.delay > 0 {
		time.Sleep(st.delay)
	}
	if st.hang {
		<-r.Context().Done()
		return
	}
	if st.retryAfter != "" {
		w.Header().Set("Retry-After", st.retryAfter)
	}
	reply := st.body
	if reply == "" {
		if strings.HasSuffix(r.URL.Path, "/chat/completions") {
			reply = `{"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}`
		} else {
			reply = `{"choices":[{"index":0,"text":"ok","finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}`
		}
	}
	if st.status == 0 {
		st.status = 200
	}
	w.Header().Set("Content-Type", "application/json")
	if st.cut {
		w.Header().Set("Content-Length", fmt.Sprint(len(reply)))
		w.WriteHeader(st.status)
		w.Write([]byte(reply[:len(reply)/2]))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	w.WriteHeader(st.status)
	io.WriteString(w, reply)
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func newTestClient(t *testing.T, api string, urls []string, mod func(*Config)) (*Client, *sleeps) {
	t.Helper()
	cfg := Config{Name: "m", Model: "test-model", API: api, URLs: urls, Concurrency: 4,
		Timeout: 2 * time.Second, Retries: 3, Backoff: 10 * time.Millisecond, MaxBackoff: 80 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sl := &sleeps{}
	c.sleep = sl.sleep
	return c, sl
}

func completionReq(t *testing.T, params map[string]any) *Request {
	t.Helper()
	p, err := CanonicalParams(params)
	if err != nil {
		t.Fatal(err)
	}
	return &Request{API: APICompletions, Model: "test-model", Prompt: "2+2=", Params: p}
}

func TestClientRetries(t *testing.T) {
	cases := []struct {
		name         string
		steps        []step
		retries      int
		wantErr      bool
		wantStatus   int
		wantAttempts int
		minSleep     time.Duration // the last sleep is at least this
	}{
		{name: "ok", steps: []step{{}}, wantAttempts: 1},
		{name: "503 then ok", steps: []step{{status: 503}, {}}, wantAttempts: 2},
		{name: "500 502 then ok", steps: []step{{status: 500}, {status: 502}, {}}, wantAttempts: 3},
		{name: "429 Retry-After seconds", steps: []step{{status: 429, retryAfter: "2"}, {}}, wantAttempts: 2, minSleep: 2 * time.Second},
		{name: "429 Retry-After fraction", steps: []step{{status: 429, retryAfter: "0.5"}, {}}, wantAttempts: 2, minSleep: 500 * time.Millisecond},
		{name: "400 not retried", steps: []step{{status: 400, body: `{"error":{"message":"bad prompt","type":"invalid_request_error"}}`}}, wantErr: true, wantStatus: 400, wantAttempts: 1},
		{name: "401 not retried", steps: []step{{status: 401, body: `nope`}}, wantErr: true, wantStatus: 401, wantAttempts: 1},
		{name: "404 not retried", steps: []step{{status: 404}}, wantErr: true, wantStatus: 404, wantAttempts: 1},
		{name: "5xx exhausts retries", steps: []step{{status: 503}}, retries: 2, wantErr: true, wantStatus: 503, wantAttempts: 3},
		{name: "no retries", steps: []step{{status: 503}}, retries: -1, wantErr: true, wantStatus: 503, wantAttempts: 1},
		{name: "connection cut then ok", steps: []step{{cut: true}, {}}, wantAttempts: 2},
		{name: "malformed json then ok", steps: []step{{body: `{"choices": [`}, {}}, wantAttempts: 2},
		{name: "no choices then ok", steps: []step{{body: `{"choices": []}`}, {}}, wantAttempts: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := &script{steps: tc.steps}
			srv := httptest.NewServer(sc)
			defer srv.Close()
			c, sl := newTestClient(t, APICompletions, []string{srv.URL + "/v1"}, func(c *Config) {
				if tc.retries > 0 {
					c.Retries = tc.retries
				} else if tc.retries < 0 {
					c.Retries = 0
				}
			})
			resp, st, err := c.Complete(context.Background(), completionReq(t, nil))
			if st.Attempts != tc.wantAttempts || sc.count() != tc.wantAttempts {
				t.Errorf("attempts: client %d, server %d, want %d", st.Attempts, sc.count(), tc.wantAttempts)
			}
			if st.Retries != tc.wantAttempts-1 {
				t.Errorf("retries %d, want %d", st.Retries, tc.wantAttempts-1)
			}
			if len(sl.d) != tc.wantAttempts-1 {
				t.Errorf("slept %d times, want %d", len(sl.d), tc.wantAttempts-1)
			}
			if tc.minSleep > 0 && (len(sl.d) == 0 || sl.d[len(sl.d)-1] < tc.minSleep) {
				t.Errorf("sleeps %v, want the last >= %v (Retry-After)", sl.d, tc.minSleep)
			}
			if tc.wantErr {
				var le *Error
				if !errors.As(err, &le) {
					t.Fatalf("err = %v, want *Error", err)
				}
				if le.Status != tc.wantStatus {
					t.Errorf("status %d, want %d (%v)", le.Status, tc.wantStatus, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.Text != "ok" || resp.FinishReason != "stop" || resp.PromptTokens != 3 || resp.CompletionTokens != 1 {
				t.Errorf("resp = %+v", resp)
			}
		})
	}
}

func TestClientTimeoutRetried(t *testing.T) {
	sc := &script{steps: []step{{hang: true}, {}}}
	srv := httptest.NewServer(sc)
	defer srv.Close()
	c, _ := newTestClient(t, APICompletions, []string{srv.URL + "/v1"}, func(c *Config) { c.Timeout = 100 * time.Millisecond })
	resp, st, err := c.Complete(context.Background(), completionReq(t, nil))
	if err != nil || resp.Text != "ok" || st.Attempts != 2 {
		t.Fatalf("resp %+v stats %+v err %v", resp, st, err)
	}
}

func TestClientTimeoutExhausted(t *testing.T) {
	sc := &script{steps: []step{{hang: true}}}
	srv := httptest.NewServer(sc)
	defer srv.Close()
	c, _ := newTestClient(t, APICompletions, []string{srv.URL + "/v1"}, func(c *Config) { c.Timeout = 50 * time.Millisecond; c.Retries = 1 })
	_, st, err := c.Complete(context.Background(), completionReq(t, nil))
	var le *Error
	if !errors.As(err, &le) || st.Attempts != 2 || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("stats %+v err %v", st, err)
	}
}

func TestClientConnectionRefusedRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, sl := newTestClient(t, APICompletions, []string{"http://" + addr + "/v1"}, func(c *Config) { c.Retries = 2 })
	_, st, err := c.Complete(context.Background(), completionReq(t, nil))
	var le *Error
	if !errors.As(err, &le) || st.Attempts != 3 || len(sl.d) != 2 {
		t.Fatalf("stats %+v sleeps %v err %v", st, sl.d, err)
	}
	if le.Status != 0 {
		t.Errorf("status %d, want 0", le.Status)
	}
}

func TestClientCanceled(t *testing.T) {
	sc := &script{steps: []step{{hang: true}}}
	srv := httptest.NewServer(sc)
	defer srv.Close()
	c, _ := newTestClient(t, APICompletions, []string{srv.URL + "/v1"}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for sc.count() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, _, err := c.Complete(ctx, completionReq(t, nil))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// The body carries temperature 0 and the extra fields, which go-openai's
// request structs would drop or cannot express.
func TestClientBodyParams(t *testing.T) {
	params := map[string]any{
		"temperature": 0.0, "top_p": 1.0, "max_tokens": 16, "stop": []string{"\n\n"}, "seed": 7,
		"top_k": 20, "min_p": 0, "chat_template_kwargs": map[string]any{"enable_thinking": false},
	}
	for _, api := range []string{APICompletions, APIChat} {
		t.Run(api, func(t *testing.T) {
			sc := &script{steps: []step{{}}}
			srv := httptest.NewServer(sc)
			defer srv.Close()
			c, _ := newTestClient(t, api, []string{srv.URL + "/v1"}, func(c *Config) { c.APIKey = "sk-test-secret" })
			req := completionReq(t, params)
			req.API = api
			if api == APIChat {
				req.Prompt = ""
				req.Messages = []Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "2+2="}}
			}
			req.Sample = 3
			if _, _, err := c.Complete(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			b := sc.bodies[0]
			want := map[string]any{"temperature": 0.0, "top_p": 1.0, "max_tokens": 16.0, "seed": 7.0, "top_k": 20.0, "min_p": 0.0, "n": 1.0, "model": "test-model"}
			for k, v := range want {
				got, ok := b[k]
				if !ok || got != v {
					t.Errorf("body[%q] = %v (present %v), want %v", k, got, ok, v)
				}
			}
			if kw, _ := b["chat_template_kwargs"].(map[string]any); kw == nil || kw["enable_thinking"] != false {
				t.Errorf("chat_template_kwargs = %v", b["chat_template_kwargs"])
			}
			if st, _ := b["stop"].([]any); len(st) != 1 || st[0] != "\n\n" {
				t.Errorf("stop = %v", b["stop"])
			}
			if api == APIChat {
				msgs, _ := b["messages"].([]any)
				if len(msgs) != 2 {
					t.Errorf("messages = %v", b["messages"])
				}
			} else if b["prompt"] != "2+2=" {
				t.Errorf("prompt = %v", b["prompt"])
			}
			h := sc.heads[0]
			if h.Get("Authorization") != "Bearer sk-test-secret" {
				t.Errorf("Authorization = %q", h.Get("Authorization"))
			}
			if h.Get(SampleHeader) != "3" {
				t.Errorf("%s = %q", SampleHeader, h.Get(SampleHeader))
			}
		})
	}
}

func TestClientEndpointsSpread(t *testing.T) {
	var a, b script
	a.steps, b.steps = []step{{}}, []step{{}}
	sa, sb := httptest.NewServer(&a), httptest.NewServer(&b)
	defer sa.Close()
	defer sb.Close()
	c, _ := newTestClient(t, APICompletions, []string{sa.URL + "/v1", sb.URL + "/v1/"}, nil)
	for i := 0; i < 10; i++ {
		if _, _, err := c.Complete(context.Background(), completionReq(t, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if a.count() == 0 || b.count() == 0 || a.count()+b.count() != 10 {
		t.Errorf("endpoint counts %d, %d", a.count(), b.count())
	}
}

// A retry goes to the other endpoint when one fails.
func TestClientRetryMovesOn(t *testing.T) {
	bad := &script{steps: []step{{status: 503}}}
	good := &script{steps: []step{{}}}
	sa, sb := httptest.NewServer(bad), httptest.NewServer(good)
	defer sa.Close()
	defer sb.Close()
	c, _ := newTestClient(t, APICompletions, []string{sa.URL + "/v1", sb.URL + "/v1"}, func(c *Config) { c.Retries = 1 })
	for i := 0; i < 6; i++ {
		if _, _, err := c.Complete(context.Background(), completionReq(t, nil)); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
}

func TestClientConcurrencyLimit(t *testing.T) {
	var inflight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		// Out before replying: the client may send its next request as
		// soon as it has read this reply.
		inflight.Add(-1)
		io.WriteString(w, `{"choices":[{"text":"ok","finish_reason":"stop"}]}`)
	}))
	defer srv.Close()
	c, _ := newTestClient(t, APICompletions, []string{srv.URL + "/v1"}, func(c *Config) { c.Concurrency = 3 })
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := c.Complete(context.Background(), completionReq(t, nil)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 3 || p < 1 {
		t.Errorf("peak in flight %d, want 1..3", p)
	}
}

// The API key never shows in errors, even when the server echoes it.
func TestClientErrorScrubsKey(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":{"message":"bad key %s","type":"x"}}`, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	c, _ := newTestClient(t, APICompletions, []string{srv.URL + "/v1"}, func(c *Config) { c.APIKey = "sk-very-secret-123" })
	_, _, err := c.Complete(context.Background(), completionReq(t, nil))
	if err == nil || strings.Contains(err.Error(), "sk-very-secret-123") || !strings.Contains(err.Error(), "***") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"0.25":                          250 * time.Millisecond,
		"-1":                            0,
		"soon":                          0,
		"Wed, 01 Jan 2025 12:00:10 GMT": 10 * time.Second,
		"Wed, 01 Jan 2025 11:00:00 GMT": 0,
	}
	for in, want := range cases {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	c, _ := newTestClient(t, APICompletions, []string{"http://127.0.0.1:1/v1"}, func(c *Config) {
		c.Backoff = 100 * time.Millisecond
		c.MaxBackoff = time.Second
	})
	cases := []struct {
		n          int
		r          float64
		retryAfter time.Duration
		want       time.Duration
	}{
		{0, 1, 0, 100 * time.Millisecond},
		{0, 0, 0, 50 * time.Millisecond},
		{1, 1, 0, 200 * time.Millisecond},
		{3, 1, 0, 800 * time.Millisecond},
		{4, 1, 0, time.Second},
		{20, 0.5, 0, 750 * time.Millisecond},
		{0, 1, 5 * time.Second, 5 * time.Second},
	}
	for _, tc := range cases {
		c.rand = func() float64 { return tc.r }
		if got := c.delay(tc.n, tc.retryAfter); got != tc.want {
			t.Errorf("delay(%d, r=%v, retryAfter=%v) = %v, want %v", tc.n, tc.r, tc.retryAfter, got, tc.want)
		}
	}
}

func TestKeyIgnoresEndpointAndOrder(t *testing.T) {
	p1, _ := CanonicalParams(map[string]any{"temperature": 0, "top_k": 20})
	p2, _ := CanonicalParams(map[string]any{"top_k": 20.0, "temperature": 0.0})
	a := Request{API: APICompletions, Model: "m", Prompt: "x", Params: p1}
	b := Request{API: APICompletions, Model: "m", Prompt: "x", Params: p2}
	if a.Key() != b.Key() {
		t.Error("same request, different keys")
	}
	for name, mod := range map[string]func(r *Request){
		"sample": func(r *Request) { r.Sample = 1 },
		"model":  func(r *Request) { r.Model = "m2" },
		"prompt": func(r *Request) { r.Prompt = "y" },
		"api":    func(r *Request) { r.API = APIChat },
		"params": func(r *Request) { r.Params, _ = CanonicalParams(map[string]any{"temperature": 0.1}) },
	} {
		c := a
		mod(&c)
		if c.Key() == a.Key() {
			t.Errorf("changing %s does not change the key", name)
		}
	}
}
