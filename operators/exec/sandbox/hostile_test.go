package sandbox

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	hostileDir      = "../../../testdata/exec/hostile"
	hostileInnerEnv = "CACO_HOSTILE_INNER"
	hostileSecret   = "sk-caco-hostile-3f9a1c7e5b2d"
)

// TestHostile runs the hostile-program suite (TestHostileInner) in a child
// test process inside a pid namespace of its own, so that a sandbox failure
// cannot take this test runner down. It owns a TCP listener on the host's
// 127.0.0.1 that must see nothing, plants an API key in the child's (the
// engine's) environment, and checks the host afterwards: no file the
// programs tried to write, no process left running as the program uid.
func TestHostile(t *testing.T) {
	if os.Getenv(hostileInnerEnv) != "" {
		t.Skip("inner run")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := free.Addr().(*net.TCPAddr).Port
	free.Close()

	marker := fmt.Sprintf("caco-hostile-%d-%d", os.Getpid(), time.Now().UnixNano())
	home := t.TempDir() // the engine's HOME
	wd, _ := os.Getwd()
	// A host process listening on a unix socket, and a host FIFO with a
	// reader, in a temporary folder: no program may reach either.
	hostDir := t.TempDir()
	sockPath := filepath.Join(hostDir, "host.sock")
	uln, err := net.Listen("unix", sockPath)
	if err != nil {
		t.Fatal(err)
	}
	defer uln.Close()
	var unixAccepted atomic.Int32
	go func() {
		for {
			c, err := uln.Accept()
			if err != nil {
				return
			}
			unixAccepted.Add(1)
			c.Close()
		}
	}()
	fifoPath := filepath.Join(hostDir, "host.fifo")
	if err := syscall.Mkfifo(fifoPath, 0o666); err != nil {
		t.Fatal(err)
	}
	fifo, err := os.OpenFile(fifoPath, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fifo.Close()
	// A recipe with a secret in the engine's working directory (the inner
	// test runs in this package's folder).
	recipe := filepath.Join(hostDir, "recipe.yaml")
	if err := os.WriteFile(recipe, []byte("models:\n  m:\n    api_key: "+hostileSecret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-test.run=^TestHostileInner$", "-test.count=1"}
	if *updateRoot {
		args = append(args, "-update")
	}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(),
		hostileInnerEnv+"=1",
		"CACO_HOSTILE_PORT="+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port),
		"CACO_HOSTILE_FREE_PORT="+strconv.Itoa(freePort),
		"CACO_HOSTILE_MARKER="+marker,
		"CACO_HOSTILE_SOCKET="+sockPath,
		"CACO_HOSTILE_FIFO="+fifoPath,
		"CACO_HOSTILE_RECIPE="+recipe,
		"HOME="+home,
		"OPENAI_API_KEY="+hostileSecret,
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	t.Logf("inner run:\n%s", out)
	if err != nil {
		t.Fatalf("hostile suite failed: %v", err)
	}

	if n := accepted.Load(); n != 0 {
		t.Errorf("the host listener on 127.0.0.1 accepted %d connections", n)
	}
	if n := unixAccepted.Load(); n != 0 {
		t.Errorf("the host's unix socket accepted %d connections", n)
	}
	buf := make([]byte, 256)
	if n, _ := fifo.Read(buf); n > 0 {
		t.Errorf("a program wrote into the host's FIFO: %q", buf[:n])
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", freePort), time.Second); err == nil {
		c.Close()
		t.Errorf("a program's listening port %d is reachable from the host", freePort)
	}
	// Nothing written by a program may exist on the host.
	var leaked []string
	for _, dir := range []string{"/tmp", os.TempDir(), filepath.Dir(wd), wd, home, "/", "/var/tmp", "/dev/shm"} {
		matches, _ := filepath.Glob(filepath.Join(dir, marker+"*"))
		leaked = append(leaked, matches...)
	}
	if len(leaked) > 0 {
		t.Errorf("files written by programs exist on the host: %v", leaked)
		for _, f := range leaked {
			os.Remove(f)
		}
	}
	if procs := programProcesses(); len(procs) > 0 {
		t.Errorf("processes still running as the program uid: %v", procs)
	}
}

// programProcesses lists host pids whose uid is the sandbox program uid and
// that live in this test's own pid namespace, i.e. outside every sandbox:
// programs run in their worker's pid namespace and die with it, so a
// program-uid process here escaped. Programs of other tests running at the
// same time (go test runs packages in parallel) are in their workers' pid
// namespaces and do not count.
func programProcesses() []string {
	var out []string
	self, _ := os.Readlink("/proc/self/ns/pid")
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if ns, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns/pid")); err != nil || ns != self {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "Uid:") && strings.Contains(line, strconv.Itoa(hostProgramID)) {
				out = append(out, e.Name())
			}
		}
	}
	return out
}

type hostileCase struct {
	file    string
	noInput bool     // run without the engine's input
	want    []string // acceptable statuses
	check   func(t *testing.T, r Result)
	after   func(t *testing.T, p *Pool)
}

func outputJSON(t *testing.T, r Result) any {
	t.Helper()
	var v any
	if r.Output != nil {
		if err := json.Unmarshal(r.Output, &v); err != nil {
			t.Errorf("output is not JSON: %q", r.Output)
		}
	}
	return v
}

func TestHostileInner(t *testing.T) {
	if os.Getenv(hostileInnerEnv) == "" {
		t.Skip("run through TestHostile")
	}
	if os.Getpid() != 1 {
		t.Fatalf("the hostile suite must run as pid 1 of its own pid namespace (pid %d)", os.Getpid())
	}
	// Our own /proc, so that pids (and the uid_map files the sandbox writes)
	// are those of this namespace.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		t.Fatalf("making mounts private: %v", err)
	}
	if err := syscall.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		t.Fatalf("mounting /proc: %v", err)
	}
	if os.Getenv("OPENAI_API_KEY") != hostileSecret {
		t.Fatal("the API key is not planted in the engine's environment")
	}
	marker := os.Getenv("CACO_HOSTILE_MARKER")
	port, _ := strconv.Atoi(os.Getenv("CACO_HOSTILE_PORT"))
	freePort, _ := strconv.Atoi(os.Getenv("CACO_HOSTILE_FREE_PORT"))
	wd, _ := os.Getwd()
	inputB, _ := json.Marshal(map[string]any{
		"marker": marker, "port": port, "free_port": freePort, "home": os.Getenv("HOME"),
		"cwd_parent": filepath.Dir(wd), "engine_pid": os.Getpid(), "cwd": wd,
		"socket": os.Getenv("CACO_HOSTILE_SOCKET"), "fifo": os.Getenv("CACO_HOSTILE_FIFO"),
		"recipe": os.Getenv("CACO_HOSTILE_RECIPE"),
	})
	input := string(inputB)

	// One worker, so that each program runs right after the previous one in
	// the same sandbox: what one leaves behind, the next would see.
	p := newPool(t, Options{Workers: 1, Timeout: 2 * time.Second, Memory: 256 << 20})

	statusIs := func(s ...string) []string { return s }
	cases := []hostileCase{
		{file: "fork_bomb.py", want: statusIs(StatusException, StatusTimeout)},
		{file: "thread_bomb.py", want: statusIs(StatusException, StatusMemory)},
		// On a VM that is slow to fault fresh pages (this CI machine takes 4 s of
		// wall time for 256 MiB) the wall-clock limit may come first.
		{file: "memory_bomb.py", want: statusIs(StatusMemory, StatusTimeout)},
		{file: "numpy_huge.py", want: statusIs(StatusMemory)},
		{file: "infinite_loop.py", want: statusIs(StatusTimeout)},
		{file: "sleep_forever.py", want: statusIs(StatusTimeout)},
		{file: "sigterm_ignored.py", want: statusIs(StatusTimeout)},
		{file: "c_level_computation.py", want: statusIs(StatusTimeout)},
		{file: "huge_stdout.py", want: statusIs(StatusOutputLimit), check: func(t *testing.T, r Result) {
			if int64(len(r.Stdout)) > p.Options().MaxStdout {
				t.Errorf("stdout of %d bytes passed the cap", len(r.Stdout))
			}
		}},
		{file: "invalid_utf8.py", want: statusIs(StatusOK), check: func(t *testing.T, r Result) {
			if !strings.Contains(r.Stdout, "bad \uFFFD bytes") {
				t.Errorf("stdout %q", r.Stdout)
			}
		}},
		{file: "sys_exit.py", want: statusIs(StatusException), check: func(t *testing.T, r Result) {
			if r.Reason != "SystemExit: 3" {
				t.Errorf("reason %q", r.Reason)
			}
		}},
		{file: "os_exit.py", want: statusIs(StatusException)},
		{file: "segfault.py", want: statusIs(StatusKilled)},
		// Under load the 2 s limit may come before the stack runs out.
		{file: "deep_recursion.py", want: statusIs(StatusKilled, StatusException, StatusMemory, StatusTimeout)},
		{file: "tcp_connect_host.py", want: statusIs(StatusException)},
		{file: "bind_port.py", want: statusIs(StatusOK, StatusException)},
		{file: "dns_lookup.py", want: statusIs(StatusException)},
		{file: "write_files.py", want: statusIs(StatusOK), check: func(t *testing.T, r Result) {
			// Only the private /tmp (also the program's HOME) is writable.
			for _, w := range outputJSON(t, r).([]any) {
				if s := w.(string); !strings.HasPrefix(s, "/tmp/") {
					t.Errorf("a program wrote %s", s)
				}
			}
		}},
		{file: "check_tmp_empty.py", want: statusIs(StatusOK), check: tmpEmpty},
		{file: "subprocess_write.py", want: statusIs(StatusOK)},
		{file: "daemon.py", want: statusIs(StatusOK), after: func(t *testing.T, p *Pool) {
			time.Sleep(3500 * time.Millisecond) // the daemon would write now
			if procs := programProcesses(); len(procs) > 0 {
				t.Errorf("the daemon survived: %v", procs)
			}
		}},
		{file: "check_tmp_empty.py", want: statusIs(StatusOK), check: tmpEmpty},
		{file: "disk_fill.py", want: statusIs(StatusException)},
		{file: "check_tmp_empty.py", want: statusIs(StatusOK), check: tmpEmpty},
		{file: "fd_exhaustion.py", want: statusIs(StatusException)},
		{file: "read_environ.py", want: statusIs(StatusOK), check: func(t *testing.T, r Result) {
			env := outputJSON(t, r).(map[string]any)
			for k := range env {
				if strings.Contains(k, "KEY") || strings.HasPrefix(k, "CACO_") || k == "GOPATH" {
					t.Errorf("engine variable %s visible to the program", k)
				}
			}
		}},
		{file: "read_proc_environ.py", want: statusIs(StatusOK)},
		{file: "kill_parent.py", want: statusIs(StatusOK)},
		{file: "kill_all.py", want: statusIs(StatusOK, StatusException)},
		{file: "namespace_escape.py", want: statusIs(StatusOK), check: func(t *testing.T, r Result) {
			res := outputJSON(t, r).(map[string]any)
			for _, k := range []string{"unshare_user", "unshare_net", "mount", "ptrace"} {
				if res[k] != float64(-1) {
					t.Errorf("%s succeeded inside the sandbox: %v", k, res[k])
				}
			}
			if res["uid"] != float64(programID) {
				t.Errorf("program uid %v", res["uid"])
			}
		}},
		{file: "monkeypatch.py", want: statusIs(StatusOK), check: func(t *testing.T, r Result) {
			if string(r.Output) != "-1" {
				t.Errorf("output %s, want the patched math.sqrt's -1", r.Output)
			}
		}},
		{file: "monkeypatch_check.py", want: statusIs(StatusOK), check: func(t *testing.T, r Result) {
			if !jsonEq(t, r.Output, `[4.0, true, 3, "[1]", "1/2"]`) || r.Stdout != "visible\n" {
				t.Errorf("monkeypatching leaked into the next program: output %s stdout %q", r.Output, r.Stdout)
			}
		}},
		// Issue 10, point 5: the forged frame is data, and the rules come
		// from the code text: the literal's unused key still counts.
		{file: "forge_verdict.py", want: statusIs(StatusOK, StatusException), check: func(t *testing.T, r Result) {
			if r.Status == StatusOK && !slices.Contains(r.UnusedInput, "never_named_key") {
				t.Errorf("a forged result escaped unused_input: %+v", r)
			}
		}},
		{file: "forge_input.py", noInput: true, want: statusIs(StatusOK, StatusException), check: func(t *testing.T, r Result) {
			if r.HasInput {
				t.Errorf("a program without input claimed one: %+v", r)
			}
		}},
		// Point 6: 20,001 digits behind an int subclass that lies to abs().
		{file: "int_subclass_abs.py", want: statusIs(StatusOK), check: func(t *testing.T, r Result) {
			if r.TooLarge != "output" || r.Output != nil {
				t.Errorf("the digit rule was fooled: too_large %q, output %.80s", r.TooLarge, r.Output)
			}
		}},
		// Point 7: cleanup cannot fail, twice in a row, and /tmp is empty
		// for the next program.
		{file: "deep_tmp_tree.py", want: statusIs(StatusOK)},
		{file: "check_tmp_empty.py", want: statusIs(StatusOK), check: tmpEmpty},
		{file: "deep_tmp_tree.py", want: statusIs(StatusOK)},
		{file: "check_tmp_empty.py", want: statusIs(StatusOK), check: tmpEmpty},
		{file: "sysv_ipc.py", want: statusIs(StatusOK), check: func(t *testing.T, r Result) {
			for k, v := range outputJSON(t, r).(map[string]any) {
				if v != float64(-1) {
					t.Errorf("%s succeeded inside the sandbox: %v", k, v)
				}
			}
		}},
		// Point 2: every call through another ABI fails (a negative errno)
		// or kills the caller (a kernel without that ABI).
		{file: "foreign_abi.py", want: statusIs(StatusOK), check: func(t *testing.T, r Result) {
			for k, v := range outputJSON(t, r).(map[string]any) {
				switch v := v.(type) {
				case float64:
					if v >= 0 {
						t.Errorf("%s succeeded inside the sandbox: %v", k, v)
					}
				case string:
					if !strings.HasPrefix(v, "signal ") {
						t.Errorf("%s: %v", k, v)
					}
				}
			}
		}},
		// Point 1: no terminal to open, TIOCSTI/TIOCLINUX refused on every
		// descriptor (TestTerminal runs this under a real pseudo-terminal).
		{file: "tty_inject.py", want: statusIs(StatusOK), check: func(t *testing.T, r Result) {
			if w := outputJSON(t, r).(map[string]any)["worked"].([]any); len(w) != 0 {
				t.Errorf("terminal attacks that worked: %v", w)
			}
		}},
		// Point 3: the host's unix socket and FIFO (checked on the host by
		// TestHostile) and any other socket or FIFO.
		{file: "host_socket_fifo.py", want: statusIs(StatusOK), check: func(t *testing.T, r Result) {
			res := outputJSON(t, r).(map[string]any)
			if len(res["reached"].([]any)) != 0 || len(res["found"].([]any)) != 0 {
				t.Errorf("sockets or FIFOs visible to the program: %v", res)
			}
		}},
		// Points 3 and 4: the whole view of the file system is the
		// checked-in allow-list; no secret of the engine is readable.
		{file: "walk_root.py", want: statusIs(StatusOK), check: checkRootView},
	}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.file, ".py"), func(t *testing.T) {
			code, err := os.ReadFile(filepath.Join(hostileDir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			in := &input
			if c.noInput {
				in = nil
			}
			r, err := p.Run(context.Background(), string(code), in)
			if err != nil {
				t.Fatalf("the sandbox failed: %v", err)
			}
			t.Logf("%s: %s (%s) in %v; output %.200s", c.file, r.Status, r.Reason, time.Since(start).Round(time.Millisecond), r.Output)
			// Every process the program started is dead once Run returns.
			if procs := programProcesses(); len(procs) > 0 {
				t.Errorf("processes of the program survive it: %v", procs)
			}
			ok := false
			for _, s := range c.want {
				ok = ok || r.Status == s
			}
			if !ok {
				t.Errorf("status %s (%s), want one of %v; stdout %.200q", r.Status, r.Reason, c.want, r.Stdout)
			}
			for _, s := range []string{r.Stdout, string(r.Output), string(r.Input), r.Reason, r.Traceback} {
				if strings.Contains(s, hostileSecret) {
					t.Errorf("the engine's API key leaked to the program")
				}
			}
			if c.check != nil {
				c.check(t, r)
			}
			if c.after != nil {
				c.after(t, p)
			}
			// The engine is healthy: the next program runs normally.
			for _, canary := range []string{"import math\noutput = math.isqrt(1764)", "import numpy\noutput = int(numpy.int64(42))"} {
				h := run(t, p, canary, nil)
				if h.Status != StatusOK || string(h.Output) != "42" {
					t.Fatalf("after %s the sandbox is unhealthy: %+v", c.file, h)
				}
			}
		})
	}
	p.Close()
	if procs := programProcesses(); len(procs) > 0 {
		t.Errorf("processes still running as the program uid: %v", procs)
	}
}

func tmpEmpty(t *testing.T, r Result) {
	res := outputJSON(t, r).(map[string]any)
	if tmp := res["tmp"].([]any); len(tmp) != 0 {
		t.Errorf("/tmp holds files of an earlier program: %v", tmp)
	}
	if res["cwd"] != "/tmp" {
		t.Errorf("cwd %v", res["cwd"])
	}
}

var updateRoot = flag.Bool("update", false, "rewrite testdata/exec/sandbox_root.golden.json from what walk_root.py sees")

const rootGolden = "../../../testdata/exec/sandbox_root.golden.json"

// checkRootView compares what walk_root.py sees with the checked-in
// allow-list (regenerate with `go test ./operators/exec/sandbox -run
// TestHostile -update` and review the diff), and checks it read none of
// the engine's files.
func checkRootView(t *testing.T, r Result) {
	var view struct {
		Mounts  []string `json:"mounts"`
		Entries []string `json:"entries"`
		Secrets []any    `json:"secrets"`
	}
	if err := json.Unmarshal(r.Output, &view); err != nil {
		t.Fatalf("walk_root output: %v", err)
	}
	if len(view.Secrets) != 0 {
		t.Errorf("the program read the engine's files: %v", view.Secrets)
	}
	got, _ := json.MarshalIndent(map[string][]string{"mounts": view.Mounts, "entries": view.Entries}, "", "  ")
	got = append(got, '\n')
	if *updateRoot {
		if err := os.WriteFile(rootGolden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(rootGolden)
	if err != nil {
		t.Fatalf("%v (create it with -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("the sandbox's file system differs from %s (rerun with -update if the change is intended):\n%s", rootGolden, lineDiff(string(want), string(got)))
	}
}

// lineDiff lists the lines only in a (-) and only in b (+).
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
