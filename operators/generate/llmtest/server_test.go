package llmtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, url string, body any, hdr map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, resp.Header, out
}

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(cfg, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func text(t *testing.T, out map[string]any, i int) (string, string) {
	t.Helper()
	ch, _ := out["choices"].([]any)
	if len(ch) <= i {
		t.Fatalf("no choice %d in %v", i, out)
	}
	c := ch[i].(map[string]any)
	fr, _ := c["finish_reason"].(string)
	if s, ok := c["text"].(string); ok {
		return s, fr
	}
	return c["message"].(map[string]any)["content"].(string), fr
}

func TestDeterministicReplies(t *testing.T) {
	s := start(t, Config{Rules: []Rule{
		{Match: `What is (?P<a>\d+)\+(?P<b>\d+)`, Reply: "The answer is {{.Groups.a}}{{.Groups.b}} ({{.Sample}})"},
		{Match: `forbidden`, Reply: "no: {{.Prompt}}", Status: 400},
	}})
	body := map[string]any{"model": "m", "prompt": "Q: What is 1+2?", "n": 2}
	code, _, out := post(t, s.URL()+"/completions", body, map[string]string{"X-Caco-Sample": "5"})
	if code != 200 {
		t.Fatalf("status %d: %v", code, out)
	}
	a0, fr := text(t, out, 0)
	a1, _ := text(t, out, 1)
	if a0 != "The answer is 12 (5)" || a1 != "The answer is 12 (6)" || fr != "stop" {
		t.Errorf("replies %q %q %q", a0, a1, fr)
	}
	usage := out["usage"].(map[string]any)
	if usage["prompt_tokens"].(float64) != 4 || usage["completion_tokens"].(float64) != 10 {
		t.Errorf("usage %v", usage)
	}
	// Same request, same reply; default reply otherwise.
	_, _, out2 := post(t, s.URL()+"/chat/completions", map[string]any{"model": "m", "messages": []any{map[string]any{"role": "user", "content": "hello\nworld"}}}, nil)
	r1, _ := text(t, out2, 0)
	_, _, out3 := post(t, s.URL()+"/chat/completions", map[string]any{"model": "m", "messages": []any{map[string]any{"role": "user", "content": "hello\nworld"}}}, nil)
	r2, _ := text(t, out3, 0)
	if r1 != r2 || !strings.Contains(r1, "to: world") {
		t.Errorf("default replies %q %q", r1, r2)
	}
	code, _, out = post(t, s.URL()+"/completions", map[string]any{"model": "m", "prompt": "forbidden thing"}, nil)
	if code != 400 || !strings.Contains(out["error"].(map[string]any)["message"].(string), "no: forbidden thing") {
		t.Errorf("rule status: %d %v", code, out)
	}
	code, _, _ = post(t, s.URL()+"/completions", map[string]any{"prompt": "x"}, nil)
	if code != 400 {
		t.Errorf("no model: %d", code)
	}
	if st := s.Stats(); st.Requests != 5 || st.OK != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestMaxTokensAndTruncate(t *testing.T) {
	s := start(t, Config{Rules: []Rule{{Match: ``, Reply: "one two three four five six"}}})
	_, _, out := post(t, s.URL()+"/completions", map[string]any{"model": "m", "prompt": "x", "max_tokens": 2}, nil)
	if txt, fr := text(t, out, 0); txt != "one two" || fr != "length" {
		t.Errorf("max_tokens: %q %q", txt, fr)
	}
	s2 := start(t, Config{Truncate: 1, Rules: []Rule{{Match: ``, Reply: "one two three four five six"}}})
	_, _, out = post(t, s2.URL()+"/completions", map[string]any{"model": "m", "prompt": "x"}, nil)
	if txt, fr := text(t, out, 0); len(txt) >= len("one two three four five six") || fr != "length" {
		t.Errorf("truncate: %q %q", txt, fr)
	}
}

func TestFaults(t *testing.T) {
	s := start(t, Config{Fail429: 1, RetryAfter: 1500 * time.Millisecond})
	code, h, _ := post(t, s.URL()+"/completions", map[string]any{"model": "m", "prompt": "x"}, nil)
	if code != 429 || h.Get("Retry-After") != "1.5" {
		t.Errorf("429: %d %q", code, h.Get("Retry-After"))
	}
	s = start(t, Config{Fail5xx: 1})
	code, _, _ = post(t, s.URL()+"/completions", map[string]any{"model": "m", "prompt": "x"}, nil)
	if code != 500 && code != 503 {
		t.Errorf("5xx: %d", code)
	}
	s = start(t, Config{Hang: 1})
	c := &http.Client{Timeout: 100 * time.Millisecond}
	if _, err := c.Post(s.URL()+"/completions", "application/json", strings.NewReader(`{"model":"m","prompt":"x"}`)); err == nil {
		t.Error("hang: got a reply")
	}
	s = start(t, Config{Cut: 1})
	resp, err := http.Post(s.URL()+"/completions", "application/json", strings.NewReader(`{"model":"m","prompt":"x"}`))
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("cut: read the whole reply")
	}
	st := s.Stats()
	if st.Cut != 1 || st.Requests != 1 {
		t.Errorf("stats %+v", st)
	}
	if _, err := New(Config{Fail5xx: 0.8, Hang: 0.5}); err == nil {
		t.Error("fractions above 1 accepted")
	}
}

func TestStatsModelsAuth(t *testing.T) {
	s := start(t, Config{APIKey: "k123", Models: []string{"a", "b"}, MaxParallel: 2, KeepBodies: true})
	resp, err := http.Get(s.URL() + "/models")
	if err != nil {
		t.Fatal(err)
	}
	var models map[string]any
	json.NewDecoder(resp.Body).Decode(&models)
	resp.Body.Close()
	if d, _ := models["data"].([]any); len(d) != 2 {
		t.Errorf("models %v", models)
	}
	if code, _, _ := post(t, s.URL()+"/completions", map[string]any{"model": "m", "prompt": "x"}, nil); code != 401 {
		t.Errorf("no key: %d", code)
	}
	if code, _, _ := post(t, s.URL()+"/completions", map[string]any{"model": "m", "prompt": "x", "temperature": 0}, map[string]string{"Authorization": "Bearer k123"}); code != 200 {
		t.Errorf("key: %d", code)
	}
	resp, err = http.Get("http://" + s.Addr() + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st["requests"].(float64) != 2 {
		t.Errorf("/stats %v", st)
	}
	if b := s.Bodies(); len(b) != 1 || b[0]["temperature"] != 0.0 {
		t.Errorf("bodies %v", b)
	}
}

func TestReplayMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.jsonl")
	os.WriteFile(path, []byte(`{"model":"m","api":"completions","prompt":"hi","params":{"temperature":0},"sample":1,"response":{"text":"recorded","finish_reason":"stop","prompt_tokens":7,"completion_tokens":1}}`+"\n"), 0o644)
	s := start(t, Config{Replay: path})
	code, _, out := post(t, s.URL()+"/completions", map[string]any{"model": "m", "prompt": "hi", "temperature": 0, "n": 1, "stream": false}, map[string]string{"X-Caco-Sample": "1"})
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	if txt, _ := text(t, out, 0); txt != "recorded" {
		t.Errorf("reply %q", txt)
	}
	code, _, out = post(t, s.URL()+"/completions", map[string]any{"model": "m", "prompt": "hi", "temperature": 0}, nil)
	if code != 404 || !strings.Contains(out["error"].(map[string]any)["message"].(string), "sample 0") {
		t.Errorf("miss: %d %v", code, out)
	}
}

func TestPauseAfter(t *testing.T) {
	s := start(t, Config{PauseAfter: 2})
	for i := 0; i < 2; i++ {
		if code, _, _ := post(t, s.URL()+"/completions", map[string]any{"model": "m", "prompt": "x"}, nil); code != 200 {
			t.Fatalf("reply %d: %d", i, code)
		}
	}
	got := make(chan int, 1)
	go func() {
		code, _, _ := post(t, s.URL()+"/completions", map[string]any{"model": "m", "prompt": "x"}, nil)
		got <- code
	}()
	for s.Stats().Requests < 3 {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-got:
		t.Fatal("third reply not held")
	case <-time.After(50 * time.Millisecond):
	}
	if st := s.Stats(); st.OK != 2 {
		t.Errorf("ok %d while paused", st.OK)
	}
	s.Resume()
	if code := <-got; code != 200 {
		t.Errorf("after Resume: %d", code)
	}
}
