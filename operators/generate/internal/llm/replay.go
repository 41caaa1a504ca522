package llm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Entry is one line of a replay file: a request and its response. The key
// is computed from the request fields when the file is read, so replay
// files can be written by hand.
type Entry struct {
	API      string          `json:"api"`
	Model    string          `json:"model"`
	Prompt   *string         `json:"prompt,omitempty"`
	Messages []Message       `json:"messages,omitempty"`
	Params   json.RawMessage `json:"params,omitempty"`
	Sample   int             `json:"sample"`
	Response Response        `json:"response"`
}

// EntryFor pairs a request with its response.
func EntryFor(req *Request, resp Response) Entry {
	e := Entry{API: req.API, Model: req.Model, Params: req.Params, Sample: req.Sample, Response: resp}
	if req.API == APIChat {
		e.Messages = req.Messages
	} else {
		p := req.Prompt
		e.Prompt = &p
	}
	return e
}

// Request returns the entry's request.
func (e *Entry) Request() (*Request, error) {
	r := &Request{API: e.API, Model: e.Model, Messages: e.Messages, Sample: e.Sample}
	switch e.API {
	case APIChat:
		if e.Prompt != nil {
			return nil, errors.New(`api "chat" takes messages, not a prompt`)
		}
	case APICompletions:
		if e.Prompt == nil {
			return nil, errors.New(`api "completions" needs a prompt`)
		}
		r.Prompt = *e.Prompt
	default:
		return nil, fmt.Errorf(`unknown api %q (completions or chat)`, e.API)
	}
	if e.Model == "" {
		return nil, errors.New("no model")
	}
	params := map[string]any{}
	if len(e.Params) > 0 && string(e.Params) != "null" {
		if err := json.Unmarshal(e.Params, &params); err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
	}
	p, err := CanonicalParams(params)
	if err != nil {
		return nil, err
	}
	r.Params = p
	return r, nil
}

// Replay serves responses from a replay file.
type Replay struct {
	path string
	m    map[Key]Response
}

// LoadReplay reads a replay file (JSON lines of Entry; blank lines are
// skipped). A later line for the same request wins.
func LoadReplay(path string) (*Replay, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening replay file: %w", err)
	}
	defer f.Close()
	r := &Replay{path: path, m: map[Key]Response{}}
	br := bufio.NewReaderSize(f, 1<<20)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			var e Entry
			if jerr := json.Unmarshal(b, &e); jerr != nil {
				return nil, fmt.Errorf("%s:%d: reading replay entry: %w", path, line, jerr)
			}
			req, rerr := e.Request()
			if rerr != nil {
				return nil, fmt.Errorf("%s:%d: reading replay entry: %w", path, line, rerr)
			}
			r.m[req.Key()] = e.Response
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading replay file %s: %w", path, err)
		}
	}
	return r, nil
}

// Len is the number of recorded requests.
func (r *Replay) Len() int { return len(r.m) }

// Lookup returns the recorded response of req (whatever its row). A
// request with a seed also finds a response recorded without one: replay
// files recorded before per-row seeds were sent stay usable.
func (r *Replay) Lookup(req *Request) (Response, bool) {
	if resp, ok := r.m[req.PromptKey()]; ok {
		return resp, true
	}
	if alt := req.WithoutParam("seed"); alt != nil {
		resp, ok := r.m[alt.PromptKey()]
		return resp, ok
	}
	return Response{}, false
}

// MissError is a request a replay file has no response for.
type MissError struct {
	Path string
	Req  *Request
}

func (e *MissError) Error() string {
	return fmt.Sprintf("replay file %s has no response for %s (record one with `caco run --record DIR` against a real server)", e.Path, e.Req.Describe())
}

// Get is Lookup with a MissError naming the request.
func (r *Replay) Get(req *Request) (Response, error) {
	if resp, ok := r.Lookup(req); ok {
		return resp, nil
	}
	return Response{}, &MissError{Path: r.path, Req: req}
}

// Recorder appends entries to a replay file, once per request. Entries
// already in the file (from an earlier, interrupted run) are not written
// again.
type Recorder struct {
	path string
	mu   sync.Mutex
	f    *os.File
	seen map[Key]bool
	buf  []byte
}

// RecordFile is the replay file for model name in a --record folder.
func RecordFile(dir, name string) string { return filepath.Join(dir, name+".jsonl") }

// OpenRecorder opens (creating) path for appending.
func OpenRecorder(path string) (*Recorder, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("opening record file: %w", err)
	}
	seen := map[Key]bool{}
	if _, err := os.Stat(path); err == nil {
		old, err := LoadReplay(path)
		if err != nil {
			return nil, fmt.Errorf("opening record file: %w", err)
		}
		for k := range old.m {
			seen[k] = true
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening record file: %w", err)
	}
	return &Recorder{path: path, f: f, seen: seen}, nil
}

// Path is the file written.
func (r *Recorder) Path() string { return r.path }

// Write records a request and its response (once per request as sent).
func (r *Recorder) Write(req *Request, resp Response) error {
	k := req.PromptKey()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[k] {
		return nil
	}
	if r.f == nil {
		return fmt.Errorf("writing record file %s: closed", r.path)
	}
	b, err := json.Marshal(EntryFor(req, resp))
	if err != nil {
		return fmt.Errorf("writing record file %s: %w", r.path, err)
	}
	r.buf = append(append(r.buf[:0], b...), '\n')
	if _, err := r.f.Write(r.buf); err != nil {
		return fmt.Errorf("writing record file %s: %w", r.path, err)
	}
	r.seen[k] = true
	return nil
}

// Close closes the file.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	if err != nil {
		return fmt.Errorf("closing record file %s: %w", r.path, err)
	}
	return nil
}
