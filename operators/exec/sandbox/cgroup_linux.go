package sandbox

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A worker's cgroup bounds what rlimits cannot: the memory of all its
// processes together (a fork bomb of 1 GiB processes, tmpfs pages) and their
// number. Cgroups are created inside the cgroup caco itself runs in (read
// from /proc/self/cgroup), so a Slurm job's or a container's limits still
// bound them, and that works in a subtree delegated to an unprivileged user
// too. cgroup v1 (memory and pids hierarchies) and v2 are supported.
//
// Names are unique (caco-exec-<pid>-<process start time>-n<pid namespace
// inode>-<random>-<seq>): a pid repeats across pid namespaces and
// containers, the start time, the namespace and the random part do not. At start, folders of earlier caco processes that
// are gone (no such pid, or a pid with another start time) are removed.
//
// No silent degradation: when caco cannot create a memory cgroup and no
// enclosing cgroup has a memory limit, New fails unless Options.MemoryCgroup
// is "optional"; Pool.MissingLimits says what is missing.
//
// This is a handful of file writes, so it is done here rather than through a
// cgroup library (containerd/cgroups would add a dozen dependencies for it).

// hierarchy is one cgroup hierarchy caco can use.
type hierarchy struct {
	v2  bool
	dir string // caco's own cgroup in it
}

// cgroupSetup is what the process found once: where to create workers'
// cgroups and what is missing.
type cgroupSetup struct {
	memory, pids *hierarchy
	// missing lists the limits caco cannot set, with why.
	missing []string
	// enclosing is a memory limit found on caco's own or an enclosing
	// cgroup (bytes; 0: none).
	enclosing int64
	prefix    string // caco-exec-<pid>-<start>-<random>
}

var (
	cgroupOnce  sync.Map // root -> *cgroupSetup
	cgroupSeq   atomic.Int64
	cgroupMount = "/proc/self/mountinfo"
	cgroupSelf  = "/proc/self/cgroup"
)

// setupCgroups finds caco's own cgroups under root (normally "" for the
// real mounts; tests point it at a fake tree) and removes stale folders.
func setupCgroups(root string) *cgroupSetup {
	if v, ok := cgroupOnce.Load(root); ok {
		return v.(*cgroupSetup)
	}
	s := &cgroupSetup{prefix: fmt.Sprintf("caco-exec-%d-%d-n%s-%s", os.Getpid(), startTime(os.Getpid()), pidNamespace(), randomHex(4))}
	own := ownCgroups()
	mounts := cgroupMounts()
	find := func(controller string) *hierarchy {
		for _, m := range mounts {
			if m.v2 || !m.controllers[controller] {
				continue
			}
			rel, ok := own[controller]
			if !ok {
				continue
			}
			return &hierarchy{dir: filepath.Join(root+m.point, strings.TrimPrefix(rel, m.root))}
		}
		// cgroup v2: one hierarchy; the controller must be available to
		// caco's cgroup.
		for _, m := range mounts {
			if !m.v2 {
				continue
			}
			rel, ok := own[""]
			if !ok {
				continue
			}
			dir := filepath.Join(root+m.point, strings.TrimPrefix(rel, m.root))
			b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
			if err == nil && strings.Contains(" "+strings.TrimSpace(string(b))+" ", " "+controller+" ") {
				return &hierarchy{v2: true, dir: dir}
			}
		}
		return nil
	}
	s.memory, s.pids = find("memory"), find("pids")
	for _, h := range []*hierarchy{s.memory, s.pids} {
		if h != nil {
			removeStale(h.dir)
		}
	}
	if s.memory != nil {
		s.enclosing = enclosingLimit(s.memory)
	}
	cgroupOnce.Store(root, s)
	return s
}

type cgroupMountInfo struct {
	point, root string
	v2          bool
	controllers map[string]bool
}

func cgroupMounts() []cgroupMountInfo {
	b, err := os.ReadFile(cgroupMount)
	if err != nil {
		return nil
	}
	var out []cgroupMountInfo
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		m := cgroupMountInfo{point: unescapeMount(f[4]), root: unescapeMount(f[3]), controllers: map[string]bool{}}
		switch g[0] {
		case "cgroup2":
			m.v2 = true
		case "cgroup":
			for _, o := range strings.Split(g[2], ",") {
				m.controllers[o] = true
			}
		default:
			continue
		}
		out = append(out, m)
	}
	return out
}

// ownCgroups maps each v1 controller (and "" for v2) to caco's cgroup path.
func ownCgroups() map[string]string {
	b, err := os.ReadFile(cgroupSelf)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// startTime is a process's start time in clock ticks since boot (field 22
// of /proc/PID/stat); 0 when there is no such process.
func startTime(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// pidNamespace is the inode of this process's pid namespace ("" when
// unknown). A pid and its start time identify a process only within one pid
// namespace: test binaries, containers and Slurm jobs share a cgroup while
// living in different pid namespaces.
func pidNamespace() string {
	l, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	l = strings.TrimSuffix(strings.TrimPrefix(l, "pid:["), "]")
	if _, err := strconv.ParseUint(l, 10, 64); err != nil {
		return ""
	}
	return l
}

// foreignStaleAge is how old an empty folder of a caco in another pid
// namespace must be before it counts as stale: its owner cannot be looked
// up from here, and a live owner fills its folder within milliseconds of
// creating it (a folder that still holds processes cannot be removed).
const foreignStaleAge = 10 * time.Minute

// removeStale removes the folders caco-exec-<pid>-<start>-n<pidns>-...
// under dir whose caco process is gone (its workers died with it: they are
// started with a parent-death signal). Folders of cacos in another pid
// namespace are removed only when empty and older than foreignStaleAge.
func removeStale(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "caco-exec-") {
			continue
		}
		f := strings.Split(strings.TrimPrefix(e.Name(), "caco-exec-"), "-")
		if len(f) < 3 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		st, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if len(f) >= 4 && strings.HasPrefix(f[2], "n") && f[2][1:] != pidNamespace() {
			info, err := e.Info()
			if err != nil || time.Since(info.ModTime()) < foreignStaleAge {
				continue // maybe a live caco of another pid namespace
			}
			os.Remove(filepath.Join(dir, e.Name())) // fails while it holds processes
			continue
		}
		if pid == os.Getpid() && st == startTime(pid) {
			continue
		}
		if st != 0 && startTime(pid) == st {
			continue // that caco is still running
		}
		os.Remove(filepath.Join(dir, e.Name()))
	}
}

// enclosingLimit returns the smallest memory limit set on h's cgroup or an
// ancestor (0: none).
func enclosingLimit(h *hierarchy) int64 {
	var best int64
	for d := h.dir; ; d = filepath.Dir(d) {
		var b []byte
		var err error
		if h.v2 {
			b, err = os.ReadFile(filepath.Join(d, "memory.max"))
		} else {
			b, err = os.ReadFile(filepath.Join(d, "memory.limit_in_bytes"))
		}
		if err != nil {
			break
		}
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && v < 1<<60 {
			if best == 0 || v < best {
				best = v
			}
		}
		if d == "/" || d == "." {
			break
		}
	}
	return best
}

type cgroup struct {
	dirs       []string // created directories, removed on close
	procsFiles []string // cgroup.procs of each hierarchy
	oomFile    string   // memory.oom_control (v1) or memory.events (v2)
	oomKey     string
}

// newCgroup creates a worker's cgroup with the memory and pids limits. It
// returns the cgroup (nil when none could be made) and the limits it could
// not set, with why.
func newCgroup(s *cgroupSetup, memory int64, pids int) (*cgroup, []string) {
	var missing []string
	name := fmt.Sprintf("%s-%d", s.prefix, cgroupSeq.Add(1))
	cg := &cgroup{oomKey: "oom_kill"}
	mkdir := func(h *hierarchy) (string, error) {
		d := filepath.Join(h.dir, name)
		if h.v2 {
			// Controllers must be enabled for caco's children; this fails
			// when caco's cgroup holds processes and is not the root.
			if err := writeFile(filepath.Join(h.dir, "cgroup.subtree_control"), "+memory +pids"); err != nil && !errors.Is(err, os.ErrExist) {
				b, _ := os.ReadFile(filepath.Join(h.dir, "cgroup.subtree_control"))
				if !strings.Contains(string(b), "memory") {
					return "", fmt.Errorf("enabling controllers in %s: %w", h.dir, err)
				}
			}
		}
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", err
		}
		cg.dirs = append(cg.dirs, d)
		return d, nil
	}
	if memory > 0 {
		if s.memory == nil {
			missing = append(missing, "memory (no usable memory cgroup controller)")
		} else if d, err := mkdir(s.memory); err != nil {
			missing = append(missing, fmt.Sprintf("memory (creating a cgroup: %v)", err))
		} else {
			limit, swap, oom := "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.oom_control"
			if s.memory.v2 {
				limit, swap, oom = "memory.max", "", "memory.events"
			}
			if err := writeFile(filepath.Join(d, limit), strconv.FormatInt(memory, 10)); err != nil {
				missing = append(missing, fmt.Sprintf("memory (setting the limit: %v)", err))
			} else {
				if swap != "" {
					// Include swap in the limit when the kernel accounts it.
					writeFile(filepath.Join(d, swap), strconv.FormatInt(memory, 10))
				} else {
					writeFile(filepath.Join(d, "memory.swap.max"), "0")
				}
				cg.procsFiles = append(cg.procsFiles, filepath.Join(d, "cgroup.procs"))
				cg.oomFile = filepath.Join(d, oom)
			}
		}
	}
	if pids > 0 {
		if s.pids == nil {
			missing = append(missing, "pids (no usable pids cgroup controller)")
		} else if s.memory != nil && s.pids.v2 && s.memory.v2 && len(cg.procsFiles) > 0 {
			// v2: the same folder.
			writeFile(filepath.Join(filepath.Dir(cg.procsFiles[0]), "pids.max"), strconv.Itoa(pids))
		} else if d, err := mkdir(s.pids); err != nil {
			missing = append(missing, fmt.Sprintf("pids (creating a cgroup: %v)", err))
		} else if err := writeFile(filepath.Join(d, "pids.max"), strconv.Itoa(pids)); err != nil {
			missing = append(missing, fmt.Sprintf("pids (setting the limit: %v)", err))
		} else {
			cg.procsFiles = append(cg.procsFiles, filepath.Join(d, "cgroup.procs"))
		}
	}
	if len(cg.procsFiles) == 0 {
		cg.close()
		return nil, missing
	}
	return cg, missing
}

// add moves pid (the worker, before it runs any program) into the cgroup.
func (c *cgroup) add(pid int) error {
	if c == nil {
		return nil
	}
	for _, f := range c.procsFiles {
		if err := writeFile(f, strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("adding the sandbox to its cgroup: %w", err)
		}
	}
	return nil
}

// oomKills returns the number of OOM kills in the cgroup so far.
func (c *cgroup) oomKills() int64 {
	if c == nil || c.oomFile == "" {
		return 0
	}
	f, err := os.Open(c.oomFile)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == c.oomKey {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// close removes the cgroup; call it once the worker's processes are dead.
func (c *cgroup) close() {
	if c == nil {
		return
	}
	for i := len(c.dirs) - 1; i >= 0; i-- {
		os.Remove(c.dirs[i])
	}
}

func writeFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
