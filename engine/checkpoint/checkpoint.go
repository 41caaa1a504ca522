// Package checkpoint persists a run: each step's completed output batches
// (Arrow IPC files), their rejects and a commit record, in the run folder.
// A batch counts as done only when its commit record exists; every file is
// written to a temporary name and renamed into place, so a kill -9 at any
// moment leaves either a whole commit or none.
//
// Layout of a run folder:
//
//	run.lock                 held while a run is using the folder
//	manifest.json            recipe, steps, fingerprints, status
//	stats.json               per-step counts (written at the end)
//	rejects.jsonl            the rejects ledger (assembled at the end)
//	steps/<step>/fingerprint.json
//	steps/<step>/b-<seq>.commit     one committed batch (<seq>: 16 hex digits)
//	steps/<step>/state/             the operator's own files (caches, indexes)
//
// A commit file is one line of JSON (the Commit record, with the lengths of
// the two sections that follow), then the batch's output rows as an Arrow
// IPC stream, then its rejects as JSON lines. One file per batch keeps a
// commit to a single create and rename, which matters on file systems where
// metadata operations are slow.
package checkpoint

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Store is an open run folder.
type Store struct {
	Dir  string
	lock *os.File

	keyOnce sync.Once
	key     []byte
	keyErr  error
}

// Open opens (creating) a run folder and locks it against concurrent runs.
// With fresh, previous step results are removed first.
func Open(dir string, fresh bool) (*Store, error) {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("creating run folder: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "run.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("opening run lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("run folder %s is in use by another caco run", dir)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	s := &Store{Dir: dir, lock: f}
	if fresh {
		for _, name := range []string{"steps", "manifest.json", "stats.json", "rejects.jsonl", outputsFile} {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				s.Close()
				return nil, fmt.Errorf("clearing run folder: %w", err)
			}
		}
	}
	return s, nil
}

// SecretKey returns the run folder's secret key (32 random bytes in
// secret.key, readable by its owner only), creating it on first use. Step
// fingerprints cover secrets (values from the environment) by an HMAC with
// this key, so that no file in the folder holds or reveals them. It
// survives --fresh.
func (s *Store) SecretKey() ([]byte, error) {
	s.keyOnce.Do(func() { s.key, s.keyErr = SecretKey(s.Dir) })
	return s.key, s.keyErr
}

var keyMu sync.Mutex

// SecretKey returns the secret key of the run folder dir, creating it on
// first use (see Store.SecretKey).
func SecretKey(dir string) ([]byte, error) {
	keyMu.Lock()
	defer keyMu.Unlock()
	path := filepath.Join(dir, "secret.key")
	if b, err := os.ReadFile(path); err == nil && len(b) == secretKeyLen {
		return b, nil
	}
	k := make([]byte, secretKeyLen)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("making the run folder's secret key: %w", err)
	}
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, k, 0o600)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return nil, fmt.Errorf("writing the run folder's secret key: %w", err)
	}
	return k, nil
}

const secretKeyLen = 32

// Close releases the lock.
func (s *Store) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close()
	s.lock = nil
	return err
}

// StepInfo is written to a step's fingerprint.json.
type StepInfo struct {
	Fingerprint string          `json:"fingerprint"`
	Op          string          `json:"op"`
	Version     string          `json:"version"`
	Config      json.RawMessage `json:"config,omitempty"`
	Inputs      []string        `json:"inputs,omitempty"`
}

// Commit is the record of one completed batch.
type Commit struct {
	Seq      uint64           `json:"seq"`
	RowsIn   int64            `json:"rows_in"`
	RowsOut  int64            `json:"rows_out"`
	Rejects  map[string]int64 `json:"rejects,omitempty"`
	Counters map[string]int64 `json:"counters,omitempty"`
	Seconds  float64          `json:"seconds"`
	// Delta is the operator's state change (Checkpointer).
	Delta []byte `json:"delta,omitempty"`
	// DataLen and RejectsLen are the sizes of the sections after the
	// record line (0: no rows, no rejects).
	DataLen    int64 `json:"data_len"`
	RejectsLen int64 `json:"rejects_len"`
	headerLen  int64
}

// HasRejects reports whether the batch rejected rows.
func (c *Commit) HasRejects() bool { return c.RejectsLen > 0 }

// StepStore holds one step's committed batches.
type StepStore struct {
	Dir string
	// Done maps a batch's seq to its commit, for batches committed before.
	Done map[uint64]*Commit
	// Reused reports whether earlier results were kept (same fingerprint).
	Reused bool
}

// Step opens the folder of a step. When the stored fingerprint differs from
// info's (the step or something upstream changed), earlier results are
// removed. Leftover temporary files of an interrupted commit are removed.
func (s *Store) Step(name string, info StepInfo) (*StepStore, error) {
	dir := filepath.Join(s.Dir, "steps", name)
	ss := &StepStore{Dir: dir, Done: map[uint64]*Commit{}}
	fpFile := filepath.Join(dir, "fingerprint.json")
	var old StepInfo
	if b, err := os.ReadFile(fpFile); err == nil && json.Unmarshal(b, &old) == nil && old.Fingerprint == info.Fingerprint {
		ss.Reused = true
	} else {
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("clearing step %s: %w", name, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o777); err != nil {
		return nil, fmt.Errorf("creating step folder: %w", err)
	}
	if !ss.Reused {
		b, _ := json.MarshalIndent(info, "", "  ")
		if err := WriteFileAtomic(fpFile, append(b, '\n')); err != nil {
			return nil, err
		}
		return ss, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading step folder: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		if strings.Contains(n, ".tmp") {
			_ = os.Remove(filepath.Join(dir, n))
			continue
		}
		if !strings.HasPrefix(n, "b-") || !strings.HasSuffix(n, ".commit") {
			continue
		}
		c, err := readCommit(filepath.Join(dir, n))
		if err != nil {
			// a torn commit cannot exist (renamed into place), but a damaged
			// disk can: redo that batch.
			_ = os.Remove(filepath.Join(dir, n))
			continue
		}
		ss.Done[c.Seq] = c
	}
	return ss, nil
}

// readCommit reads the record line of a commit file.
func readCommit(path string) (*Commit, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 4096).ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("reading commit %s: %w", path, err)
	}
	var c Commit
	if err := json.Unmarshal(line, &c); err != nil {
		return nil, fmt.Errorf("reading commit %s: %w", path, err)
	}
	c.headerLen = int64(len(line))
	if st, err := f.Stat(); err != nil || st.Size() != c.headerLen+c.DataLen+c.RejectsLen {
		return nil, fmt.Errorf("commit %s is truncated", path)
	}
	return &c, nil
}

// Forget drops all commits (an operator that cannot resume mid-stream).
func (ss *StepStore) Forget() {
	ss.Done = map[uint64]*Commit{}
}

// StateDir is the operator's own folder.
func (ss *StepStore) StateDir() string { return filepath.Join(ss.Dir, "state") }

func (ss *StepStore) path(seq uint64) string {
	return filepath.Join(ss.Dir, fmt.Sprintf("b-%016x.commit", seq))
}

// Commit persists a batch — its record, its output rows (rec may be nil or
// empty) and its rejects ledger lines — as one file, atomically.
func (ss *StepStore) Commit(c *Commit, rec arrow.Record, rejects []byte) error {
	data := bufPool.Get().(*bytes.Buffer)
	data.Reset()
	defer bufPool.Put(data)
	if rec != nil && rec.NumRows() > 0 {
		w := ipc.NewWriter(data, ipc.WithSchema(rec.Schema()))
		err := w.Write(rec)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("encoding batch: %w", err)
		}
	}
	c.DataLen = int64(data.Len())
	c.RejectsLen = int64(len(rejects))
	head, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encoding commit: %w", err)
	}
	path := ss.path(c.Seq)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("writing commit: %w", err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	bw.Write(head)
	bw.WriteByte('\n')
	bw.Write(data.Bytes())
	bw.Write(rejects)
	err = bw.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing commit %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing commit %s: %w", path, err)
	}
	c.headerLen = int64(len(head) + 1)
	return nil
}

// bufPool holds encode buffers: a batch's IPC bytes live only until its
// commit file is written, and reusing them keeps the heap from spiking.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Rejects returns a committed batch's rejects ledger lines.
func (ss *StepStore) Rejects(c *Commit) ([]byte, error) {
	if c.RejectsLen == 0 {
		return nil, nil
	}
	f, err := os.Open(ss.path(c.Seq))
	if err != nil {
		return nil, fmt.Errorf("opening commit: %w", err)
	}
	defer f.Close()
	buf := make([]byte, c.RejectsLen)
	if _, err := f.ReadAt(buf, c.headerLen+c.DataLen); err != nil {
		return nil, fmt.Errorf("reading rejects of %s: %w", f.Name(), err)
	}
	return buf, nil
}

// Load reads a committed batch's rows; sc is used for batches without rows.
func (ss *StepStore) Load(seq uint64, sc *arrow.Schema, alloc memory.Allocator) (arrow.Record, error) {
	c, ok := ss.Done[seq]
	if !ok {
		return nil, fmt.Errorf("batch %016x is not committed", seq)
	}
	if c.DataLen == 0 {
		return emptyRecord(sc, alloc), nil
	}
	f, err := os.Open(ss.path(seq))
	if err != nil {
		return nil, fmt.Errorf("opening checkpoint: %w", err)
	}
	defer f.Close()
	sec := io.NewSectionReader(f, c.headerLen, c.DataLen)
	r, err := ipc.NewReader(bufio.NewReaderSize(sec, 256<<10), ipc.WithAllocator(alloc))
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint %s: %w", f.Name(), err)
	}
	defer r.Release()
	if !r.Next() {
		if err := r.Err(); err != nil {
			return nil, fmt.Errorf("reading checkpoint %s: %w", f.Name(), err)
		}
		return nil, fmt.Errorf("reading checkpoint %s: no record", f.Name())
	}
	rec := r.Record()
	rec.Retain()
	return rec, nil
}

// Commits returns every commit record on disk, in seq order (used to build
// final stats and the ledger, whatever was resumed).
func (ss *StepStore) Commits() ([]*Commit, error) {
	entries, err := os.ReadDir(ss.Dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []*Commit
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, "b-") || !strings.HasSuffix(n, ".commit") {
			continue
		}
		c, err := readCommit(filepath.Join(ss.Dir, n))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// WriteFileAtomic writes data to a temporary file beside path and renames it
// into place.
func WriteFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o666); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// WriteJSON writes v as indented JSON, atomically.
func WriteJSON(path string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encoding %s: %w", filepath.Base(path), err)
	}
	return WriteFileAtomic(path, buf.Bytes())
}
