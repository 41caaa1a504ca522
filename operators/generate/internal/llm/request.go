// Package llm talks to OpenAI-compatible servers for the generate operator:
// a retrying, concurrency-limited HTTP client built on go-openai, the
// content-addressed response cache, offline replay files and their
// recorder, and model servers started for a run.
package llm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// APIs a model can speak.
const (
	APICompletions = "completions"
	APIChat        = "chat"
)

// SampleHeader carries the sample index of a request to the server. Real
// servers ignore it; the test server uses it to vary replies and to pick
// recorded ones.
const SampleHeader = "X-Caco-Sample"

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is one generation: one sample of one prompt.
type Request struct {
	API      string
	Model    string
	Prompt   string    // completions
	Messages []Message // chat
	// Params is the canonical JSON object of every other body field
	// (temperature, top_p, max_tokens, stop, seed and the step's extra
	// fields), merged into the request body as is.
	Params json.RawMessage
	// Sample is the sample index (0 .. n-1) within its row and variant.
	Sample int
	// Row identifies the row the request is for (its position or id), so
	// that rows with the same prompt keep their own samples in the response
	// cache. It is part of Key, but not of PromptKey, and never sent.
	Row string
}

// Response is what a generation returned.
type Response struct {
	Text             string `json:"text"`
	FinishReason     string `json:"finish_reason"`
	PromptTokens     int    `json:"prompt_tokens"`
	CompletionTokens int    `json:"completion_tokens"`
}

// Key is the content address of a request: model, api, rendered prompt or
// messages, sampling parameters and sample index. The endpoint and the API
// key are not part of it.
type Key [32]byte

func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Key returns the request's content address.
func (r *Request) Key() Key {
	h := sha256.New()
	h.Write([]byte("caco-llm-v1\n"))
	h.Write([]byte(r.API))
	h.Write([]byte{0})
	h.Write([]byte(r.Model))
	h.Write([]byte{0})
	if r.API == APIChat {
		b, _ := json.Marshal(r.Messages)
		h.Write(b)
	} else {
		b, _ := json.Marshal(r.Prompt)
		h.Write(b)
	}
	h.Write([]byte{0})
	if len(r.Params) == 0 {
		h.Write([]byte("{}"))
	} else {
		h.Write(r.Params)
	}
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(r.Sample)))
	if r.Row != "" {
		h.Write([]byte("\x00row:"))
		h.Write([]byte(r.Row))
	}
	var k Key
	h.Sum(k[:0])
	return k
}

// PromptKey is Key without the row: the address of what is sent, as replay
// files store it.
func (r *Request) PromptKey() Key {
	if r.Row == "" {
		return r.Key()
	}
	c := *r
	c.Row = ""
	return c.Key()
}

// WithoutParam returns a copy of r without the body field name, or nil when
// r's parameters do not have it.
func (r *Request) WithoutParam(name string) *Request {
	var m map[string]json.RawMessage
	if len(r.Params) == 0 || json.Unmarshal(r.Params, &m) != nil {
		return nil
	}
	if _, ok := m[name]; !ok {
		return nil
	}
	delete(m, name)
	params := map[string]any{}
	for k, v := range m {
		params[k] = v
	}
	p, err := CanonicalParams(params)
	if err != nil {
		return nil
	}
	c := *r
	c.Params = p
	return &c
}

// CanonicalParams encodes body fields as the canonical JSON object used in
// keys and request bodies: numbers normalised through float64, keys sorted.
// The client and the test server both use it, so a request computes the
// same key on either side.
func CanonicalParams(m map[string]any) (json.RawMessage, error) {
	if len(m) == 0 {
		return json.RawMessage("{}"), nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding request parameters: %w", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("encoding request parameters: %w", err)
	}
	return json.Marshal(v)
}

// Describe names a request in messages: model, sample, parameters and the
// prompt (or last message), shortened.
func (r *Request) Describe() string {
	var text string
	if r.API == APIChat {
		if len(r.Messages) > 0 {
			last := r.Messages[len(r.Messages)-1]
			text = last.Role + ": " + last.Content
		}
	} else {
		text = r.Prompt
	}
	params := string(r.Params)
	if params == "" {
		params = "{}"
	}
	return fmt.Sprintf("model %q %s sample %d params %s prompt %q (key %s)",
		r.Model, r.API, r.Sample, params, Shorten(text, 120), r.Key().String()[:16])
}

// Shorten cuts s to about n characters, keeping its start and end.
func Shorten(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	half := n / 2
	return string(r[:half]) + " … " + string(r[len(r)-half:])
}
