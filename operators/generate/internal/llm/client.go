package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// Config configures a Client.
type Config struct {
	Name        string // the `models:` entry, for messages
	Model       string
	API         string
	URLs        []string // API roots such as http://127.0.0.1:8000/v1
	APIKey      string
	Concurrency int
	Timeout     time.Duration // per attempt
	Retries     int
	Backoff     time.Duration
	MaxBackoff  time.Duration
}

// Client sends requests to one model's endpoints: at most Concurrency in
// flight across all of them (and across every step sharing the client),
// each attempt bounded by Timeout, retried on 429, 5xx, timeouts and
// connection errors with exponential backoff and jitter, honouring
// Retry-After. Other 4xx replies are never retried.
//
// go-openai builds requests and decodes replies. Because its request
// structs drop zero values (temperature 0) and have no field for
// server-specific options (top_k, chat_template_kwargs, ...), the client
// hands go-openai an HTTPDoer that merges the request's canonical
// parameters (Request.Params) into the JSON body before sending it. The
// parameters travel to the doer in the request context.
type Client struct {
	cfg       Config
	endpoints []*endpoint
	sem       chan struct{}
	rr        atomic.Uint64
	transport *http.Transport
	// sleep waits between attempts; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
	rand  func() float64

	// down-from-start detection: consecutive connection failures before
	// any reply (see Down)
	answered  atomic.Bool
	downMu    sync.Mutex
	connFails int
	firstFail time.Time
	down      *DownError
	downCh    chan struct{}
}

// A server counts as down from the start when, before it ever answered,
// DownAfter consecutive attempts failed to connect, or at least two did
// over DownWithin. The client is created after a `serve:` server reports
// ready, so a server still loading never counts.
var (
	DownAfter  = 20
	DownWithin = 5 * time.Second
)

// DownError is returned by Complete, for every request, once the model's
// server turned out to be down from the start.
type DownError struct {
	Name     string // the model
	URL      string // the endpoint of the last failure
	Attempts int
	Elapsed  time.Duration
	Last     string // the last connection error
}

func (e *DownError) Error() string {
	return fmt.Sprintf("model %s: the server at %s is not reachable: %d connection attempts over %s failed and none was ever answered (last: %s)",
		e.Name, e.URL, e.Attempts, e.Elapsed.Round(time.Millisecond), e.Last)
}

type endpoint struct {
	url      string
	oc       *openai.Client
	inflight atomic.Int64
}

// Stats counts what one Complete call did.
type Stats struct {
	Attempts int // HTTP requests sent
	Retries  int
}

// New makes a client.
func New(cfg Config) (*Client, error) {
	if len(cfg.URLs) == 0 {
		return nil, fmt.Errorf("model %s: no base_url or endpoints", cfg.Name)
	}
	if cfg.API != APIChat && cfg.API != APICompletions {
		return nil, fmt.Errorf("model %s: unknown api %q (completions or chat)", cfg.Name, cfg.API)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.Backoff {
		cfg.MaxBackoff = max(cfg.Backoff, 30*time.Second)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 2 * cfg.Concurrency
	tr.MaxIdleConnsPerHost = cfg.Concurrency
	tr.IdleConnTimeout = 90 * time.Second
	tr.ResponseHeaderTimeout = 0 // the attempt context bounds it
	d := &doer{hc: &http.Client{Transport: tr}}
	c := &Client{
		cfg:       cfg,
		sem:       make(chan struct{}, cfg.Concurrency),
		transport: tr,
		sleep:     sleepCtx,
		rand:      rand.Float64,
		downCh:    make(chan struct{}),
	}
	for _, u := range cfg.URLs {
		oc := openai.DefaultConfig(cfg.APIKey)
		oc.BaseURL = strings.TrimRight(u, "/")
		oc.HTTPClient = d
		c.endpoints = append(c.endpoints, &endpoint{url: u, oc: openai.NewClientWithConfig(oc)})
	}
	return c, nil
}

// Close drops idle connections.
func (c *Client) Close() error {
	c.transport.CloseIdleConnections()
	return nil
}

// Error is a request that failed for good: a reply that must not be
// retried, or the last failure after all retries.
type Error struct {
	Attempts int
	Status   int // HTTP status of the last attempt, 0 when there was none
	Msg      string
	// Transient: the last failure says nothing about the request (no
	// connection, a reset, a timeout, 429 or 5xx), so it is worth sending
	// again later. Otherwise the outcome is permanent (a 4xx such as a
	// prompt that is too long, a malformed reply).
	Transient bool
}

// Down returns the DownError once the server is known to be down from the
// start, else nil.
func (c *Client) Down() *DownError {
	c.downMu.Lock()
	defer c.downMu.Unlock()
	return c.down
}

// noteConnFail counts a connection failure before any reply.
func (c *Client) noteConnFail(url string, err error) {
	if c.answered.Load() {
		return
	}
	c.downMu.Lock()
	defer c.downMu.Unlock()
	if c.down != nil || c.answered.Load() {
		return
	}
	now := time.Now()
	if c.connFails == 0 {
		c.firstFail = now
	}
	c.connFails++
	if c.connFails >= DownAfter || c.connFails >= 2 && now.Sub(c.firstFail) >= DownWithin {
		c.down = &DownError{Name: c.cfg.Name, URL: url, Attempts: c.connFails, Elapsed: now.Sub(c.firstFail), Last: c.scrub(err.Error())}
		close(c.downCh)
	}
}

func (c *Client) noteAnswer() {
	if c.answered.Load() {
		return
	}
	c.answered.Store(true)
	c.downMu.Lock()
	c.connFails = 0
	c.downMu.Unlock()
}

func (e *Error) Error() string {
	return fmt.Sprintf("after %d attempt(s): %s", e.Attempts, e.Msg)
}

// Complete sends req and returns the first choice. It returns *Error when
// the request failed for good, *DownError when the server is down from the
// start, or the context's error when ctx ended.
func (c *Client) Complete(ctx context.Context, req *Request) (Response, Stats, error) {
	var st Stats
	if d := c.Down(); d != nil {
		return Response{}, st, d
	}
	// a request waiting to retry stops as soon as the server is found down
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-c.downCh:
			cancel()
		case <-stop:
		}
	}()
	ended := func() (Response, Stats, error) {
		if parent.Err() == nil {
			if d := c.Down(); d != nil {
				return Response{}, st, d
			}
		}
		return Response{}, st, parent.Err()
	}
	var retryAfter time.Duration
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			st.Retries++
			if err := c.sleep(ctx, c.delay(attempt-1, retryAfter)); err != nil {
				return ended()
			}
		}
		resp, status, ra, retryable, err := c.attempt(ctx, req)
		st.Attempts++
		if err == nil {
			return resp, st, nil
		}
		if ctx.Err() != nil {
			return ended()
		}
		if !retryable || attempt >= c.cfg.Retries {
			var me *malformedError
			transient := retryable && !errors.As(err, &me)
			return Response{}, st, &Error{Attempts: st.Attempts, Status: status, Msg: c.scrub(err.Error()), Transient: transient}
		}
		retryAfter = ra
	}
}

// delay is the wait before retry number n (0-based): exponential backoff
// with jitter (between half and all of the step), at least Retry-After.
func (c *Client) delay(n int, retryAfter time.Duration) time.Duration {
	d := c.cfg.Backoff
	for i := 0; i < n && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	d = d/2 + time.Duration(c.rand()*float64(d/2))
	return max(d, retryAfter)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pick returns the endpoint with the fewest requests in flight, starting
// the scan at a rotating index so that ties (and retries) move on.
func (c *Client) pick() *endpoint {
	n := len(c.endpoints)
	if n == 1 {
		return c.endpoints[0]
	}
	start := int(c.rr.Add(1) % uint64(n))
	best := c.endpoints[start]
	for i := 1; i < n; i++ {
		e := c.endpoints[(start+i)%n]
		if e.inflight.Load() < best.inflight.Load() {
			best = e
		}
	}
	return best
}

// attempt sends one HTTP request.
func (c *Client) attempt(ctx context.Context, req *Request) (resp Response, status int, retryAfter time.Duration, retryable bool, err error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return Response{}, 0, 0, false, ctx.Err()
	}
	defer func() { <-c.sem }()
	ep := c.pick()
	ep.inflight.Add(1)
	defer ep.inflight.Add(-1)

	cs := &callState{params: req.Params, sample: req.Sample}
	actx, cancel := context.WithTimeout(context.WithValue(ctx, callKey{}, cs), c.cfg.Timeout)
	defer cancel()
	resp, err = c.send(actx, ep, req)
	if err == nil {
		c.noteAnswer()
		return resp, cs.status, 0, false, nil
	}
	if ctx.Err() != nil {
		return Response{}, 0, 0, false, ctx.Err()
	}
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return Response{}, 0, 0, true, fmt.Errorf("%s: no reply within the timeout of %s", ep.url, c.cfg.Timeout)
	}
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	var tErr *transportError
	switch {
	case errors.As(err, &apiErr):
		c.noteAnswer()
		status = apiErr.HTTPStatusCode
		err = fmt.Errorf("%s: HTTP %d: %s", ep.url, status, Shorten(apiErr.Message, 300))
	case errors.As(err, &reqErr):
		c.noteAnswer()
		status = reqErr.HTTPStatusCode
		err = fmt.Errorf("%s: HTTP %d: %s", ep.url, status, Shorten(strings.TrimSpace(string(reqErr.Body)), 300))
	case errors.As(err, &tErr):
		if cs.status == 0 {
			c.noteConnFail(ep.url, tErr.err) // no reply at all
		} else {
			c.noteAnswer()
		}
		return Response{}, 0, 0, true, fmt.Errorf("%s: %w", ep.url, tErr.err)
	case isMalformed(err):
		return Response{}, cs.status, 0, true, &malformedError{fmt.Errorf("%s: malformed reply: %w", ep.url, err)}
	default:
		return Response{}, cs.status, 0, false, fmt.Errorf("%s: %w", ep.url, err)
	}
	retryable = status == http.StatusTooManyRequests || status >= 500
	if retryable {
		retryAfter = parseRetryAfter(cs.retryAfter, time.Now())
	}
	return Response{}, status, retryAfter, retryable, err
}

var errNoChoices = errors.New("reply has no choices")

// malformedError is a reply the server sent in full that cannot be read: a
// permanent outcome once its retries are spent.
type malformedError struct{ err error }

func (e *malformedError) Error() string { return e.err.Error() }
func (e *malformedError) Unwrap() error { return e.err }

func isMalformed(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return errors.As(err, &se) || errors.As(err, &te) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errNoChoices)
}

func (c *Client) send(ctx context.Context, ep *endpoint, req *Request) (Response, error) {
	if req.API == APIChat {
		msgs := make([]openai.ChatCompletionMessage, len(req.Messages))
		for i, m := range req.Messages {
			msgs[i] = openai.ChatCompletionMessage{Role: m.Role, Content: m.Content}
		}
		r, err := ep.oc.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: req.Model, Messages: msgs, N: 1})
		if err != nil {
			return Response{}, err
		}
		if len(r.Choices) == 0 {
			return Response{}, errNoChoices
		}
		ch := r.Choices[0]
		return Response{Text: ch.Message.Content, FinishReason: string(ch.FinishReason),
			PromptTokens: r.Usage.PromptTokens, CompletionTokens: r.Usage.CompletionTokens}, nil
	}
	r, err := ep.oc.CreateCompletion(ctx, openai.CompletionRequest{Model: req.Model, Prompt: req.Prompt, N: 1})
	if err != nil {
		return Response{}, err
	}
	if len(r.Choices) == 0 {
		return Response{}, errNoChoices
	}
	ch := r.Choices[0]
	out := Response{Text: ch.Text, FinishReason: ch.FinishReason}
	if r.Usage != nil {
		out.PromptTokens, out.CompletionTokens = r.Usage.PromptTokens, r.Usage.CompletionTokens
	}
	return out, nil
}

func (c *Client) scrub(s string) string {
	return Scrub(s, c.cfg.APIKey)
}

// Scrub replaces every secret in s with ***.
func Scrub(s string, secrets ...string) string {
	for _, k := range secrets {
		if len(k) >= 4 {
			s = strings.ReplaceAll(s, k, "***")
		}
	}
	return s
}

// parseRetryAfter reads a Retry-After header: delay seconds (fractions
// accepted) or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f <= 0 {
			return 0
		}
		return time.Duration(f * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// callState travels with one attempt, from Complete to the doer and back.
type callState struct {
	params     json.RawMessage
	sample     int
	status     int
	retryAfter string
}

type callKey struct{}

// transportError is a failure to send a request or read its reply
// (connection refused or reset, a body cut short).
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// doer is the go-openai HTTPDoer: it merges the call's parameters into the
// JSON body, reads the whole reply (so a reply cut short is a transport
// error, not a decoding one) and notes the status and Retry-After.
type doer struct{ hc *http.Client }

func (d *doer) Do(req *http.Request) (*http.Response, error) {
	cs, _ := req.Context().Value(callKey{}).(*callState)
	if cs != nil && req.Body != nil && len(cs.params) > 0 && string(cs.params) != "{}" {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading request body: %w", err)
		}
		merged, err := mergeBody(body, cs.params)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(merged))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(merged)), nil }
		req.ContentLength = int64(len(merged))
	}
	if cs != nil {
		req.Header.Set(SampleHeader, strconv.Itoa(cs.sample))
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			if inner := ue.Unwrap(); inner != nil {
				err = inner
			}
		}
		return nil, &transportError{err}
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if cs != nil {
		cs.status = resp.StatusCode
		cs.retryAfter = resp.Header.Get("Retry-After")
	}
	if err != nil {
		return nil, &transportError{fmt.Errorf("reading reply (HTTP %d): %w", resp.StatusCode, err)}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// mergeBody sets the fields of params in the JSON object body (params win).
func mergeBody(body []byte, params json.RawMessage) ([]byte, error) {
	var b map[string]json.RawMessage
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("merging parameters into the request body: %w", err)
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, fmt.Errorf("merging parameters into the request body: %w", err)
	}
	for k, v := range p {
		b[k] = v
	}
	buf := bodyBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer bodyBufs.Put(buf)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		return nil, fmt.Errorf("merging parameters into the request body: %w", err)
	}
	return bytes.Clone(bytes.TrimRight(buf.Bytes(), "\n")), nil
}
