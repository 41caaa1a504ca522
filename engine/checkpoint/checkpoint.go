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
//	steps/<step>/b-<seq>.arrow      output rows of batch <seq> (16 hex digits)
//	steps/<step>/b-<seq>.rej.jsonl  rejects of that batch
//	steps/<step>/b-<seq>.json       the commit record (written last)
//	steps/<step>/state/             the operator's own files (caches, indexes)
package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Store is an open run folder.
type Store struct {
	Dir  string
	lock *os.File
}

// Open opens (creating) a run folder and locks it against concurrent runs.
// With fresh, previous step results are removed first.
func Open(dir string, fresh bool) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating run folder: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "run.lock"), os.O_CREATE|os.O_RDWR, 0o644)
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
		for _, name := range []string{"steps", "manifest.json", "stats.json", "rejects.jsonl"} {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				s.Close()
				return nil, fmt.Errorf("clearing run folder: %w", err)
			}
		}
	}
	return s, nil
}

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
	// HasData says whether an output file exists (false: no rows).
	HasData bool `json:"has_data"`
	// HasRejects says whether a rejects file exists.
	HasRejects bool `json:"has_rejects"`
}

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
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o755); err != nil {
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
		if !strings.HasPrefix(n, "b-") || !strings.HasSuffix(n, ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, fmt.Errorf("reading commit %s: %w", n, err)
		}
		var c Commit
		if err := json.Unmarshal(b, &c); err != nil {
			// a torn commit cannot exist (renamed into place), but a damaged
			// disk can: redo that batch.
			_ = os.Remove(filepath.Join(dir, n))
			continue
		}
		ss.Done[c.Seq] = &c
	}
	return ss, nil
}

// Forget drops all commits (an operator that cannot resume mid-stream).
func (ss *StepStore) Forget() {
	ss.Done = map[uint64]*Commit{}
}

// StateDir is the operator's own folder.
func (ss *StepStore) StateDir() string { return filepath.Join(ss.Dir, "state") }

func (ss *StepStore) base(seq uint64) string {
	return filepath.Join(ss.Dir, fmt.Sprintf("b-%016x", seq))
}

// RejectsFile is the path of a batch's rejects.
func (ss *StepStore) RejectsFile(seq uint64) string { return ss.base(seq) + ".rej.jsonl" }

// Commit persists a batch: its output rows (rec may be nil or empty), its
// rejects ledger lines, and the commit record, in that order.
func (ss *StepStore) Commit(c *Commit, rec arrow.Record, rejects []byte) error {
	base := ss.base(c.Seq)
	c.HasData = rec != nil && rec.NumRows() > 0
	c.HasRejects = len(rejects) > 0
	if c.HasData {
		if err := writeIPC(base+".arrow", rec); err != nil {
			return err
		}
	}
	if c.HasRejects {
		if err := WriteFileAtomic(base+".rej.jsonl", rejects); err != nil {
			return err
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encoding commit: %w", err)
	}
	return WriteFileAtomic(base+".json", b)
}

// Load reads a committed batch's rows; sc is used for batches without rows.
func (ss *StepStore) Load(seq uint64, sc *arrow.Schema, alloc memory.Allocator) (arrow.Record, error) {
	c, ok := ss.Done[seq]
	if !ok {
		return nil, fmt.Errorf("batch %016x is not committed", seq)
	}
	if !c.HasData {
		return emptyRecord(sc, alloc), nil
	}
	f, err := os.Open(ss.base(seq) + ".arrow")
	if err != nil {
		return nil, fmt.Errorf("opening checkpoint: %w", err)
	}
	defer f.Close()
	r, err := ipc.NewFileReader(f, ipc.WithAllocator(alloc))
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint %s: %w", f.Name(), err)
	}
	defer r.Close()
	rec, err := r.Record(0)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint %s: %w", f.Name(), err)
	}
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
		if !strings.HasPrefix(n, "b-") || !strings.HasSuffix(n, ".json") || strings.Contains(n, ".tmp") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(ss.Dir, n))
		if err != nil {
			return nil, err
		}
		var c Commit
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("reading commit %s: %w", n, err)
		}
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

func writeIPC(path string, rec arrow.Record) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	w, err := ipc.NewFileWriter(f, ipc.WithSchema(rec.Schema()))
	if err == nil {
		err = w.Write(rec)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing checkpoint %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// WriteFileAtomic writes data to a temporary file beside path and renames it
// into place.
func WriteFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
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
