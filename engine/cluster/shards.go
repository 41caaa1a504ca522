package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/caco-dev/caco/engine/checkpoint"
	"github.com/caco-dev/caco/engine/run"
)

// ShardDir is the folder of shard i of n inside a run folder.
func ShardDir(runDir string, i, n int) string {
	return filepath.Join(runDir, fmt.Sprintf("shard-%04d-of-%04d", i, n))
}

var shardDirRE = regexp.MustCompile(`^shard-(\d{4,})-of-(\d{4,})$`)

// FindShards returns the shard count of the shard folders in runDir (0 when
// there are none). Folders of different counts are an error.
func FindShards(runDir string) (int, error) {
	entries, err := os.ReadDir(runDir)
	if err != nil {
		return 0, fmt.Errorf("reading run folder: %w", err)
	}
	n := 0
	for _, e := range entries {
		m := shardDirRE.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		c, _ := strconv.Atoi(m[2])
		if n != 0 && c != n {
			return 0, fmt.Errorf("run folder %s has shards of %d and of %d: remove the folders of the count you no longer use", runDir, n, c)
		}
		n = c
	}
	return n, nil
}

// Owns reports whether shard i of n processes batch seq. Batches that
// global operators emit after their input ends (vote's results) belong to
// every shard: each shard sees them, and the first shard's commit is the
// one gathered.
func Owns(seq uint64, i, n int) bool {
	if n <= 1 || seq >= run.FinishBase {
		return true
	}
	local := seq & (uint64(1)<<run.SourceShift - 1)
	return local%uint64(n) == uint64(i)
}

// marker records that a phase completed in a folder, with the fingerprints
// of its steps (a marker from another recipe version does not count).
type marker struct {
	Phase        string            `json:"phase"`
	Fingerprints map[string]string `json:"fingerprints"`
}

func markerPath(dir string, ph *Phase) string {
	return filepath.Join(dir, "phases", strings.ReplaceAll(ph.Name(), " ", "-")+".done")
}

func (c *Cut) writeMarker(dir string, ph *Phase, fps map[string]string) error {
	m := marker{Phase: ph.Name(), Fingerprints: map[string]string{}}
	for _, n := range ph.Steps {
		m.Fingerprints[n.Name()] = fps[n.Name()]
	}
	if err := os.MkdirAll(filepath.Join(dir, "phases"), 0o755); err != nil {
		return fmt.Errorf("writing phase marker: %w", err)
	}
	return checkpoint.WriteJSON(markerPath(dir, ph), m)
}

// Done reports whether phase ph completed in dir (a shard folder for an
// array phase, the run folder for a merge) with the current fingerprints.
func (c *Cut) Done(dir string, ph *Phase, fps map[string]string) bool {
	b, err := os.ReadFile(markerPath(dir, ph))
	if err != nil {
		return false
	}
	var m marker
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	for _, n := range ph.Steps {
		if m.Fingerprints[n.Name()] != fps[n.Name()] {
			return false
		}
	}
	return true
}

// RunShard runs array phase k as shard i of n, in the shard's folder of
// opts.RunDir. The global steps it reads (earlier merges) must be complete
// in the run folder: their committed batches that belong to the shard are
// linked into the shard's folder first.
func (c *Cut) RunShard(ctx context.Context, k, i, n int, opts run.Options) (*run.Stats, error) {
	ph := c.Phases[k]
	if ph.Global {
		return nil, fmt.Errorf("phase %d (%s) is not an array phase", k, ph.Name())
	}
	if opts.Fresh && k > 0 {
		return nil, errors.New("--fresh would discard the shard's earlier phases: start the whole run again instead")
	}
	runDir := opts.RunDir
	dir := ShardDir(runDir, i, n)
	if err := linkKey(runDir, dir); err != nil {
		return nil, err
	}
	fps, err := c.Fingerprints(runDir)
	if err != nil {
		return nil, err
	}
	sub := c.Sub(k)
	for _, node := range sub.Nodes {
		if IsRowLocal(node) {
			continue
		}
		gph := c.PhaseOf(node.Name())
		if !c.Done(runDir, gph, fps) {
			return nil, fmt.Errorf("shard %d/%d of %s needs %s (step %s) complete in %s first: run `caco merge` (or `caco slurm`)", i, n, ph.Name(), gph.Name(), node.Name(), runDir)
		}
		if err := linkStep(filepath.Join(runDir, "steps", node.Name()), filepath.Join(dir, "steps", node.Name()),
			func(seq uint64) bool { return Owns(seq, i, n) }, nil); err != nil {
			return nil, fmt.Errorf("shard %d/%d: taking %s from the merge: %w", i, n, node.Name(), err)
		}
	}
	opts.RunDir = dir
	opts.ShardIndex, opts.ShardCount = i, n
	st, err := run.Run(ctx, sub, opts)
	if err != nil {
		return nil, err
	}
	if err := c.writeMarker(dir, ph, fps); err != nil {
		return nil, err
	}
	return st, nil
}

// Gather links into the run folder the committed batches of every array
// phase before phase k (all n shards must have completed them). It returns
// the array phases it took, or an IncompleteError naming the shards that
// have not completed one.
func (c *Cut) Gather(runDir string, k, n int, fps map[string]string) ([]*Phase, error) {
	var took []*Phase
	for _, ph := range c.Phases[:k] {
		if ph.Global || c.Done(runDir, ph, fps) {
			continue // a merge, or an array phase that ran in the run folder itself
		}
		var missing []string
		for i := 0; i < n; i++ {
			if !c.Done(ShardDir(runDir, i, n), ph, fps) {
				missing = append(missing, strconv.Itoa(i))
			}
		}
		if len(missing) > 0 {
			return took, &IncompleteError{Phase: ph, Shards: missing, N: n}
		}
		for _, node := range ph.Steps {
			seen := map[uint64]bool{}
			for i := 0; i < n; i++ {
				src := filepath.Join(ShardDir(runDir, i, n), "steps", node.Name())
				if err := linkStep(src, filepath.Join(runDir, "steps", node.Name()),
					func(seq uint64) bool { return Owns(seq, i, n) && !seen[seq] }, seen); err != nil {
					return took, fmt.Errorf("gathering %s from shard %d/%d: %w", node.Name(), i, n, err)
				}
			}
		}
		took = append(took, ph)
	}
	return took, nil
}

// IncompleteError says which shards have not completed a phase.
type IncompleteError struct {
	Phase  *Phase
	Shards []string
	N      int
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("%s is not complete in shard(s) %s of %d: run `caco run --shard i/%d` for them (or `caco slurm` again)",
		e.Phase.Name(), strings.Join(e.Shards, ", "), e.N, e.N)
}

// RunMerge runs merge phase k in the run folder after gathering the shards'
// batches. With rest, it also runs every later phase in this one process
// (`caco merge`); otherwise only phase k (a Slurm merge job).
func (c *Cut) RunMerge(ctx context.Context, k, n int, rest bool, opts run.Options) (*run.Stats, error) {
	ph := c.Phases[k]
	if !ph.Global {
		return nil, fmt.Errorf("phase %d (%s) is not a merge phase", k, ph.Name())
	}
	fps, err := c.Fingerprints(opts.RunDir)
	if err != nil {
		return nil, err
	}
	if opts.Fresh {
		return nil, errors.New("--fresh would discard the gathered shards: rerun the shards with --fresh instead")
	}
	if _, err := c.Gather(opts.RunDir, k, n, fps); err != nil {
		return nil, err
	}
	opts.ShardIndex, opts.ShardCount = 0, 1
	p := c.Sub(k)
	last := k
	if rest {
		p = c.Plan
		last = len(c.Phases) - 1
	}
	st, err := run.Run(ctx, p, opts)
	if err != nil {
		return nil, err
	}
	for _, done := range c.Phases[k : last+1] {
		if err := c.writeMarker(opts.RunDir, done, fps); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// linkStep hard-links (or copies, across file systems) a step's
// fingerprint and the commits that keep accepts from src into dst,
// replacing what dst had under the same names. Linked seqs are added to
// seen when it is not nil.
func linkStep(src, dst string, keep func(seq uint64) bool, seen map[uint64]bool) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a step that committed nothing in this folder
		}
		return err
	}
	if err := os.MkdirAll(filepath.Join(dst, "state"), 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "fingerprint.json" {
			if err := linkFile(filepath.Join(src, name), filepath.Join(dst, name)); err != nil {
				return err
			}
			continue
		}
		if !strings.HasPrefix(name, "b-") || !strings.HasSuffix(name, ".commit") {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, "b-"), ".commit"), 16, 64)
		if err != nil || !keep(seq) {
			continue
		}
		if err := linkFile(filepath.Join(src, name), filepath.Join(dst, name)); err != nil {
			return err
		}
		if seen != nil {
			seen[seq] = true
		}
	}
	return nil
}

// linkFile makes dst the same file as src: a hard link, or an atomic copy
// where links are impossible.
func linkFile(src, dst string) error {
	if a, err := os.Stat(src); err == nil {
		if b, err := os.Stat(dst); err == nil && os.SameFile(a, b) {
			return nil
		}
	}
	tmp := dst + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(tmp)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			os.Remove(tmp)
			return err
		}
		if err := out.Close(); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	return os.Rename(tmp, dst)
}

// Fingerprints returns the steps' fingerprints for the run folder runDir.
// Fingerprints of steps that read secrets depend on the run folder's secret
// key, which every shard shares (linkKey).
func (c *Cut) Fingerprints(runDir string) (map[string]string, error) {
	return run.Fingerprints(c.Plan, func() ([]byte, error) { return secretKey(runDir) })
}

const keyFile = "secret.key" // as engine/checkpoint names it

// secretKey returns the run folder's secret key, creating it when missing
// (safely when several shards start at once: the first link wins).
func secretKey(runDir string) ([]byte, error) {
	path := filepath.Join(runDir, keyFile)
	if b, err := os.ReadFile(path); err == nil && len(b) == 32 {
		return b, nil
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating run folder: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("making the run folder's secret key: %w", err)
	}
	tmp, err := os.CreateTemp(runDir, keyFile+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("writing the run folder's secret key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(k)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("writing the run folder's secret key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("writing the run folder's secret key: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("reading the run folder's secret key %s: %v", path, err)
	}
	return b, nil
}

// linkKey gives a shard's folder the run folder's secret key.
func linkKey(runDir, shardDir string) error {
	if _, err := secretKey(runDir); err != nil {
		return err
	}
	if err := os.MkdirAll(shardDir, 0o755); err != nil {
		return fmt.Errorf("creating shard folder: %w", err)
	}
	return linkFile(filepath.Join(runDir, keyFile), filepath.Join(shardDir, keyFile))
}
