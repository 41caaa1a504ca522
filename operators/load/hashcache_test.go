package load

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// resetHashCache forgets the in-memory cache, as a new process would.
func resetHashCache() {
	hashMu.Lock()
	hashMem, hashLoaded = nil, false
	hashMu.Unlock()
}

func TestFingerprintByContent(t *testing.T) {
	t.Setenv("CACO_HASH_CACHE", filepath.Join(t.TempDir(), "hashes"))
	resetHashCache()
	dir := t.TempDir()
	path := filepath.Join(dir, "a.jsonl")
	if err := os.WriteFile(path, []byte("{\"a\": 1}\n{\"a\": 2}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(path, old, old)
	fp := func() string {
		t.Helper()
		s, err := fingerprint(path, FormatAuto)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	fp1 := fp()

	// unchanged: not read again, in this process or the next
	before := hashedBytes.Load()
	if fp() != fp1 {
		t.Fatal("unstable fingerprint")
	}
	resetHashCache()
	if fp() != fp1 {
		t.Fatal("unstable fingerprint after reloading the cache")
	}
	if n := hashedBytes.Load() - before; n != 0 {
		t.Errorf("an unchanged file was read again (%d bytes)", n)
	}

	// rewritten with the same size and modification time, as cp -p does
	time.Sleep(10 * time.Millisecond) // a ctime the file system can tell apart
	if err := os.WriteFile(path, []byte("{\"a\": 1}\n{\"a\": 3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, old, old)
	fp2 := fp()
	if fp2 == fp1 {
		t.Error("a file rewritten with the same size and mtime was not noticed")
	}

	// touched without a change: same content, same fingerprint
	now := time.Now()
	os.Chtimes(path, now, now)
	if fp() != fp2 {
		t.Error("touching a file changed its fingerprint")
	}
}
