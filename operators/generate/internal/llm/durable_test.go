package llm

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Put's wait returns once the reply is in the cache file itself: a copy of
// the file taken right then (what a kill -9 leaves) holds it.
func TestCachePutDurable(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var waits []func() error
	var keys []Key
	for i := 0; i < 50; i++ {
		req := &Request{API: APICompletions, Model: "m", Prompt: fmt.Sprintf("p%d", i), Params: []byte(`{}`)}
		w, err := c.Put(req.Key(), Response{Text: fmt.Sprintf("r%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, w)
		keys = append(keys, req.Key())
	}
	for _, w := range waits {
		if err := w(); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, CacheFile))
	if err != nil {
		t.Fatal(err)
	}
	copyDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(copyDir, CacheFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	cp, err := OpenCache(copyDir)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	for i, k := range keys {
		r, hit, err := cp.Get(k)
		if err != nil || !hit || r.Text != fmt.Sprintf("r%d", i) {
			t.Fatalf("reply %d not in the file after its wait: %+v %v %v", i, r, hit, err)
		}
	}
}
