package llm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCacheRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	req := &Request{API: APIChat, Model: "m", Messages: []Message{{Role: "user", Content: "hi"}}, Params: []byte(`{"temperature":0}`)}
	if _, hit, err := c.Get(req.Key()); err != nil || hit {
		t.Fatalf("empty cache: hit %v err %v", hit, err)
	}
	want := Response{Text: "hello", FinishReason: "stop", PromptTokens: 2, CompletionTokens: 1}
	if _, err := c.Put(req.Key(), want); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	got, hit, err := c.Get(req.Key())
	if err != nil || !hit || got != want {
		t.Fatalf("got %+v hit %v err %v", got, hit, err)
	}
	other := *req
	other.Sample = 1
	if _, hit, _ := c.Get(other.Key()); hit {
		t.Error("another sample hits")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened, the response is still there.
	c2, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got, hit, _ := c2.Get(req.Key()); !hit || got != want {
		t.Fatalf("after reopen: %+v %v", got, hit)
	}
	if n, _ := c2.Len(); n != 1 {
		t.Errorf("Len = %d", n)
	}
}

func TestCacheLocked(t *testing.T) {
	old := cacheLockTimeout
	cacheLockTimeout = 50 * time.Millisecond
	defer func() { cacheLockTimeout = old }()
	dir := t.TempDir()
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = OpenCache(dir)
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("err = %v", err)
	}
}

func TestReplayRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := RecordFile(dir, "codegen")
	r, err := OpenRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := CanonicalParams(map[string]any{"temperature": 0, "extra": map[string]any{"a": 1}})
	reqs := []*Request{
		{API: APICompletions, Model: "m", Prompt: "one", Params: p},
		{API: APICompletions, Model: "m", Prompt: "one", Params: p, Sample: 1},
		{API: APIChat, Model: "m", Messages: []Message{{Role: "system", Content: "s"}, {Role: "user", Content: "two"}}},
		{API: APICompletions, Model: "m", Prompt: ""},
	}
	for i, q := range reqs {
		if err := r.Write(q, Response{Text: "r" + string(rune('0'+i)), FinishReason: "stop"}); err != nil {
			t.Fatal(err)
		}
	}
	// Writing again is a no-op.
	if err := r.Write(reqs[0], Response{Text: "changed"}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	// Reopening for more does not duplicate.
	r2, err := OpenRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	r2.Write(reqs[1], Response{Text: "dup"})
	r2.Close()
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n != len(reqs) {
		t.Errorf("%d lines, want %d:\n%s", n, len(reqs), data)
	}
	if strings.Contains(string(data), "changed") || strings.Contains(string(data), "dup") {
		t.Errorf("a request was recorded twice:\n%s", data)
	}

	rp, err := LoadReplay(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range reqs {
		got, err := rp.Get(q)
		if err != nil || got.Text != "r"+string(rune('0'+i)) {
			t.Errorf("request %d: %+v %v", i, got, err)
		}
	}
	miss := &Request{API: APICompletions, Model: "m", Prompt: "three is not recorded", Params: p, Sample: 2}
	_, err = rp.Get(miss)
	var me *MissError
	if !errors.As(err, &me) {
		t.Fatalf("miss: %v", err)
	}
	for _, want := range []string{path, `model "m"`, "sample 2", "three is not recorded", `"temperature":0`, "--record"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("miss error %q does not mention %q", err, want)
		}
	}
}

// A hand-written replay file matches whatever the order of its params.
func TestReplayHandWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.jsonl")
	os.WriteFile(path, []byte(`
{"model":"m","api":"completions","prompt":"hi","params":{"top_k":20,"temperature":0.0},"response":{"text":"hello","finish_reason":"stop"}}

{"model":"m","api":"chat","messages":[{"role":"user","content":"hi"}],"sample":1,"response":{"text":"chat hello","finish_reason":"stop"}}
`), 0o644)
	rp, err := LoadReplay(path)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := CanonicalParams(map[string]any{"temperature": 0, "top_k": 20})
	if got, err := rp.Get(&Request{API: APICompletions, Model: "m", Prompt: "hi", Params: p}); err != nil || got.Text != "hello" {
		t.Errorf("completions: %+v %v", got, err)
	}
	if got, err := rp.Get(&Request{API: APIChat, Model: "m", Messages: []Message{{Role: "user", Content: "hi"}}, Sample: 1}); err != nil || got.Text != "chat hello" {
		t.Errorf("chat: %+v %v", got, err)
	}
}

func TestReplayBadLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.jsonl")
	os.WriteFile(path, []byte("{\"model\":\"m\",\"api\":\"completions\",\"prompt\":\"a\",\"response\":{}}\n{oops\n"), 0o644)
	_, err := LoadReplay(path)
	if err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Fatalf("err = %v", err)
	}
	os.WriteFile(path, []byte("{\"model\":\"m\",\"api\":\"chat\",\"prompt\":\"a\",\"response\":{}}\n"), 0o644)
	if _, err := LoadReplay(path); err == nil || !strings.Contains(err.Error(), "messages") {
		t.Fatalf("err = %v", err)
	}
}
