package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
)

// A worker's cgroup bounds what rlimits cannot: the memory of all its
// processes together (a fork bomb of 1 GiB processes, tmpfs pages) and their
// number. cgroup v1 (memory and pids hierarchies) and v2 are supported; when
// neither is usable (no root, read-only cgroupfs) workers run without one and
// the per-process rlimits still apply.
//
// This is a handful of file writes, so it is done here rather than through a
// cgroup library (containerd/cgroups would add a dozen dependencies for it).

const cgroupRoot = "/sys/fs/cgroup"

var cgroupSeq atomic.Int64

type cgroup struct {
	dirs       []string // created directories, removed on close
	procsFiles []string // cgroup.procs of each hierarchy
	oomFile    string   // memory.oom_control (v1) or memory.events (v2)
	oomKey     string
}

// newCgroup creates the worker's cgroup; nil when cgroups are not usable.
func newCgroup(memory int64, pids int) *cgroup {
	if memory <= 0 {
		return nil
	}
	name := fmt.Sprintf("caco-exec-%d-%d", os.Getpid(), cgroupSeq.Add(1))
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		return newCgroupV2(name, memory, pids)
	}
	mem := filepath.Join(cgroupRoot, "memory")
	if _, err := os.Stat(filepath.Join(mem, "memory.limit_in_bytes")); err != nil {
		return nil
	}
	cg := &cgroup{oomKey: "oom_kill"}
	d := filepath.Join(mem, name)
	if err := os.Mkdir(d, 0o755); err != nil {
		return nil
	}
	cg.dirs = append(cg.dirs, d)
	if writeFile(filepath.Join(d, "memory.limit_in_bytes"), strconv.FormatInt(memory, 10)) != nil {
		cg.close()
		return nil
	}
	// Include swap in the limit when the kernel accounts it.
	writeFile(filepath.Join(d, "memory.memsw.limit_in_bytes"), strconv.FormatInt(memory, 10))
	cg.procsFiles = append(cg.procsFiles, filepath.Join(d, "cgroup.procs"))
	cg.oomFile = filepath.Join(d, "memory.oom_control")
	if p := filepath.Join(cgroupRoot, "pids"); pids > 0 {
		pd := filepath.Join(p, name)
		if err := os.Mkdir(pd, 0o755); err == nil {
			cg.dirs = append(cg.dirs, pd)
			if writeFile(filepath.Join(pd, "pids.max"), strconv.Itoa(pids)) == nil {
				cg.procsFiles = append(cg.procsFiles, filepath.Join(pd, "cgroup.procs"))
			}
		}
	}
	return cg
}

func newCgroupV2(name string, memory int64, pids int) *cgroup {
	parent := filepath.Join(cgroupRoot, "caco-exec")
	if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil
	}
	writeFile(filepath.Join(cgroupRoot, "cgroup.subtree_control"), "+memory +pids")
	writeFile(filepath.Join(parent, "cgroup.subtree_control"), "+memory +pids")
	d := filepath.Join(parent, name)
	if err := os.Mkdir(d, 0o755); err != nil {
		return nil
	}
	cg := &cgroup{dirs: []string{d}, oomFile: filepath.Join(d, "memory.events"), oomKey: "oom_kill"}
	if writeFile(filepath.Join(d, "memory.max"), strconv.FormatInt(memory, 10)) != nil {
		cg.close()
		return nil
	}
	writeFile(filepath.Join(d, "memory.swap.max"), "0")
	if pids > 0 {
		writeFile(filepath.Join(d, "pids.max"), strconv.Itoa(pids))
	}
	cg.procsFiles = []string{filepath.Join(d, "cgroup.procs")}
	return cg
}

// add moves pid (the worker, before it runs any program) into the cgroup.
func (c *cgroup) add(pid int) error {
	for _, f := range c.procsFiles {
		if err := writeFile(f, strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("adding the sandbox to its cgroup: %w", err)
		}
	}
	return nil
}

// oomKills returns the number of OOM kills in the cgroup so far.
func (c *cgroup) oomKills() int64 {
	if c == nil {
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
