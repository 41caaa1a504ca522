package checkpoint

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// outputsFile records the files the run folder's writers put outside it:
// for each (by an HMAC of its path, which may hold secrets) the content hash
// and identity of the file as written. A writer replaces a file outside the
// run folder only when it is recorded here unchanged (or with overwrite).
// --fresh removes the record.
const outputsFile = "outputs.json"

type outputRecord struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// identity: a file with the same inode, size, modification and change
	// time is not read again to be hashed
	Ino   uint64 `json:"ino"`
	MTime int64  `json:"mtime_ns"`
	CTime int64  `json:"ctime_ns"`
}

var outputsMu sync.Mutex

func outputKey(runDir, path string) (string, error) {
	key, err := SecretKey(runDir)
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	m := hmac.New(sha256.New, key)
	io.WriteString(m, abs)
	return hex.EncodeToString(m.Sum(nil)), nil
}

func readOutputs(runDir string) (map[string]outputRecord, error) {
	out := map[string]outputRecord{}
	b, err := os.ReadFile(filepath.Join(runDir, outputsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the record of outputs: %w", err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("reading the record of outputs %s: %w", filepath.Join(runDir, outputsFile), err)
	}
	return out, nil
}

func identity(st os.FileInfo) (ino uint64, ctime int64) {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return sys.Ino, sys.Ctim.Sec*1e9 + sys.Ctim.Nsec
	}
	return 0, 0
}

// OutputOwned reports whether the file at path is one this run folder wrote
// and nobody changed since: recorded, with the same content.
func OutputOwned(runDir, path string) (bool, error) {
	outputsMu.Lock()
	recs, err := readOutputs(runDir)
	outputsMu.Unlock()
	if err != nil || len(recs) == 0 {
		return false, err
	}
	k, err := outputKey(runDir, path)
	if err != nil {
		return false, err
	}
	rec, ok := recs[k]
	if !ok {
		return false, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	ino, ctime := identity(st)
	if st.Size() != rec.Size {
		return false, nil
	}
	if ino == rec.Ino && ctime == rec.CTime && st.ModTime().UnixNano() == rec.MTime {
		return true, nil
	}
	sum, err := hashFile(path)
	if err != nil {
		return false, err
	}
	return sum == rec.SHA256, nil
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// RecordOutput records that this run folder wrote path, whose content has
// the SHA-256 sum (hex).
func RecordOutput(runDir, path, sum string) error {
	k, err := outputKey(runDir, path)
	if err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("recording output %s: %w", path, err)
	}
	ino, ctime := identity(st)
	outputsMu.Lock()
	defer outputsMu.Unlock()
	recs, err := readOutputs(runDir)
	if err != nil {
		return err
	}
	recs[k] = outputRecord{SHA256: sum, Size: st.Size(), Ino: ino, MTime: st.ModTime().UnixNano(), CTime: ctime}
	return WriteJSON(filepath.Join(runDir, outputsFile), recs)
}
