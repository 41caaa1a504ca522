package sandbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Uids and gids inside a worker's user namespace. The zygote is root (mapped
// to the engine's own uid 0); programs run as programID, mapped to
// hostProgramID, an otherwise unused host id.
const (
	programID     = 1000
	hostProgramID = 1999000000
)

type readyInfo struct {
	Ready     bool     `json:"ready"`
	Preloaded []string `json:"preloaded"`
	Python    string   `json:"python"`
}

type worker struct {
	cmd    *exec.Cmd
	req    *os.File
	resp   *os.File
	stderr *capBuffer
	info   readyInfo
	tmpDir string // unsafe mode only
	cg     *cgroup

	exited   chan struct{}
	killOnce sync.Once
	// retire is set when the zygote asked to be replaced after a program.
	retire string
}

// zygoteConfig is argv[1] of the zygote.
type zygoteConfig struct {
	Isolated        bool     `json:"isolated"`
	Tmp             string   `json:"tmp"`
	UID             int      `json:"uid"`
	GID             int      `json:"gid"`
	Timeout         float64  `json:"timeout"`
	MaxStdout       int64    `json:"max_stdout"`
	MaxResult       int64    `json:"max_result"`
	MaxDigits       int      `json:"max_digits"`
	IntMaxStrDigits int      `json:"int_max_str_digits"`
	Preload         []string `json:"preload"`
	HugePages       bool     `json:"hugepages"`
	Limits          limits   `json:"limits"`
}

// initConfig is what the parent hands the sandbox init (MaybeInit).
type initConfig struct {
	Python  string   `json:"python"`
	Args    []string `json:"args"`
	Env     []string `json:"env"`
	TmpSize int64    `json:"tmp_size"`
	// Binds are the host paths bound read-only into the minimal root (see
	// interpreterBinds).
	Binds []string `json:"binds"`
}

func maxResult(o Options) int64 { return 4*o.MaxStdout + (8 << 20) }

func pythonEnv(tmp string) []string {
	return []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + tmp,
		"TMPDIR=" + tmp,
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8",
		"PYTHONIOENCODING=utf-8",
		"PYTHONHASHSEED=0",
		"OPENBLAS_NUM_THREADS=1",
		"OMP_NUM_THREADS=1",
		"MKL_NUM_THREADS=1",
		"NUMEXPR_NUM_THREADS=1",
		"VECLIB_MAXIMUM_THREADS=1",
		"MPLBACKEND=Agg",
		// glibc's heap on transparent huge pages too (see _collapse in zygote.py).
		"GLIBC_TUNABLES=glibc.malloc.hugetlb=1",
	}
}

func startWorker(ctx context.Context, o Options) (*worker, error) {
	zc := zygoteConfig{
		Isolated:        !o.Unsafe,
		Tmp:             "/tmp",
		UID:             programID,
		GID:             programID,
		Timeout:         o.Timeout.Seconds(),
		MaxStdout:       o.MaxStdout,
		MaxResult:       maxResult(o),
		MaxDigits:       o.MaxDigits,
		IntMaxStrDigits: o.IntMaxStrDigits,
		Preload:         o.Preload,
		HugePages:       !o.NoHugePages,
		Limits:          programLimits(o),
	}
	w := &worker{stderr: &capBuffer{max: 64 << 10}, exited: make(chan struct{})}
	if o.Unsafe {
		dir, err := os.MkdirTemp("", "caco-exec-")
		if err != nil {
			return nil, fmt.Errorf("creating the worker's temp dir: %w", err)
		}
		w.tmpDir = dir
		zc.Tmp = dir
	}
	zcJSON, err := json.Marshal(zc)
	if err != nil {
		return nil, err
	}
	args := []string{o.Python, "-s", "-B", "-c", zygoteSource, string(zcJSON)}
	if o.Unsafe {
		w.cmd = &exec.Cmd{Path: o.Python, Args: args, Env: pythonEnv(zc.Tmp), Dir: zc.Tmp,
			SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}}
	} else {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the caco binary to re-execute as the sandbox init: %w", err)
		}
		binds, err := interpreterBinds(o.Python)
		if err != nil {
			return nil, err
		}
		ic, err := json.Marshal(initConfig{Python: o.Python, Args: args, Env: pythonEnv(zc.Tmp), TmpSize: o.TmpSize,
			Binds: binds})
		if err != nil {
			return nil, err
		}
		w.cmd = &exec.Cmd{Path: self, Args: []string{initArg0}, Env: []string{initEnv + "=" + string(ic)}, Dir: "/",
			SysProcAttr: isolatedAttr()}
	}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	respR, respW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return nil, err
	}
	w.cmd.Stdin, w.cmd.Stdout, w.cmd.Stderr = reqR, respW, w.stderr
	w.req, w.resp = reqW, respR
	if !o.Unsafe && o.WorkerMemory > 0 {
		var missing []string
		w.cg, missing = newCgroup(setupCgroups(cgroupFS), o.WorkerMemory, o.MaxProcs+16)
		if len(missing) > o.missingLimits {
			// New found these limits settable: losing one now is a failure
			// to start, not a silent downgrade.
			w.cg.close()
			reqR.Close()
			reqW.Close()
			respR.Close()
			respW.Close()
			w.cleanupTmp()
			return nil, fmt.Errorf("starting the exec sandbox: cgroup limits: %s", strings.Join(missing, "; "))
		}
	}
	err = w.cmd.Start()
	reqR.Close()
	respW.Close()
	if err == nil && w.cg != nil {
		// No program runs before the zygote reports ready, so every program
		// process is forked inside the cgroup.
		if cgErr := w.cg.add(w.cmd.Process.Pid); cgErr != nil {
			w.cmd.Process.Kill()
			w.cmd.Wait()
			err = cgErr
		}
	}
	if err != nil {
		w.cg.close()
		w.req.Close()
		w.resp.Close()
		w.cleanupTmp()
		if !o.Unsafe && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EACCES)) {
			return nil, fmt.Errorf("starting the exec sandbox: creating user, pid, network, mount and IPC namespaces: %w "+
				"(namespaces are not allowed here; the sandbox needs root with namespaces enabled. "+
				"`sandbox: none` / --sandbox none runs programs without isolation, which is unsafe)", err)
		}
		return nil, fmt.Errorf("starting the exec sandbox (%s): %w", o.Python, err)
	}
	go func() {
		w.cmd.Wait()
		close(w.exited)
	}()
	deadline := time.Now().Add(o.StartTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	w.resp.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, w.kill)
	defer stop()
	frame, err := readFrame(w.resp, 1<<20)
	if err == nil {
		err = json.Unmarshal(frame, &w.info)
		if err == nil && !w.info.Ready {
			err = errors.New("zygote did not report ready")
		}
	}
	if err != nil {
		w.kill()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("starting the exec sandbox: %w%s", err, w.stderrNote())
	}
	return w, nil
}

// probeInterpreter asks the interpreter, once per process for each
// interpreter and module list, with the sandbox's flags and environment:
// the host paths the minimal root must bind read-only, and which of the
// modules to preload it cannot find (importlib.util.find_spec, about 15 ms,
// rather than importing them).
//
// The binds are /usr (system libraries; Debian's Python and its packages),
// the top-level links or folders /bin, /sbin, /lib, /lib32, /lib64 and
// /libx32 (merged-/usr links on Debian, real folders elsewhere), and the
// interpreter's own prefix and module search path when they lie outside
// /usr (pyenv, conda, a venv).
func probeInterpreter(python string, preload []string) (binds, missing []string, err error) {
	key := python + "\x00" + strings.Join(preload, "\x00")
	if v, ok := bindsCache.Load(key); ok {
		p := v.(probe)
		return p.binds, p.missing, nil
	}
	cmd := exec.Command(python, append([]string{"-s", "-B", "-c", `import sys, json, importlib.util
missing = []
for m in sys.argv[1:]:
    try:
        if importlib.util.find_spec(m) is None:
            missing.append(m)
    except Exception:
        missing.append(m)
print(json.dumps({"paths": [sys.executable, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix] + sys.path, "missing": missing}))
`}, preload...)...)
	cmd.Env = pythonEnv("/tmp")
	cmd.Dir = "/"
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, nil, fmt.Errorf("exec sandbox: asking %s for its prefix, module path and modules: %w", python, err)
	}
	var ans struct {
		Paths   []string `json:"paths"`
		Missing []string `json:"missing"`
	}
	if err := json.Unmarshal(out, &ans); err != nil {
		return nil, nil, fmt.Errorf("exec sandbox: asking %s for its prefix, module path and modules: %w", python, err)
	}
	exe := python
	if p, err := filepath.EvalSymlinks(python); err == nil {
		exe = p
	}
	paths := append(ans.Paths, python, exe, filepath.Dir(exe))
	cands := []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			continue // '' or '.': the working directory, never bound
		}
		p = filepath.Clean(p)
		if real, err := filepath.EvalSymlinks(p); err == nil {
			cands = append(cands, real)
		}
		cands = append(cands, p)
	}
	p := probe{binds: pruneBinds(cands), missing: ans.Missing}
	bindsCache.Store(key, p)
	bindsByPython.Store(python, p.binds)
	return p.binds, p.missing, nil
}

// interpreterBinds returns the binds of python, asking it only when no
// probe has run yet.
func interpreterBinds(python string) ([]string, error) {
	if v, ok := bindsByPython.Load(python); ok {
		return v.([]string), nil
	}
	b, _, err := probeInterpreter(python, nil)
	return b, err
}

var bindsByPython sync.Map

type probe struct{ binds, missing []string }

// debianPackage names the Debian package that provides a module.
func debianPackage(module string) string {
	root, _, _ := strings.Cut(module, ".")
	return "python3-" + strings.ReplaceAll(strings.ToLower(root), "_", "-")
}

// checkModules fails, naming each missing module and its Debian package,
// when the interpreter lacks a module the zygote preloads.
func checkModules(python string, preload []string) error {
	_, missing, err := probeInterpreter(python, preload)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		return nil
	}
	var parts []string
	for _, m := range missing {
		parts = append(parts, fmt.Sprintf("%s (Debian package %s)", m, debianPackage(m)))
	}
	return fmt.Errorf("exec sandbox: %s lacks the preloaded module(s) %s: install them (e.g. apt-get install %s, or pip), "+
		"or leave them out of `preload:`", python, strings.Join(parts, ", "), debianPackageList(missing))
}

func debianPackageList(mods []string) string {
	var out []string
	for _, m := range mods {
		out = append(out, debianPackage(m))
	}
	return strings.Join(out, " ")
}

var bindsCache sync.Map

// pruneBinds sorts paths, drops those that do not exist, the root itself
// and those inside another one.
func pruneBinds(paths []string) []string {
	sort.Strings(paths)
	var out []string
	for _, p := range paths {
		if p == "/" {
			continue
		}
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if n := len(out); n > 0 && (out[n-1] == p || strings.HasPrefix(p, out[n-1]+"/")) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func (w *worker) stderrNote() string {
	s := strings.TrimSpace(w.stderr.String())
	if s == "" {
		return ""
	}
	return ": " + s
}

func (w *worker) dead() bool {
	select {
	case <-w.exited:
		return true
	default:
		return false
	}
}

// kill stops the worker: in isolated mode killing the zygote (pid 1 of the
// namespace) kills every process in it.
func (w *worker) kill() {
	w.killOnce.Do(func() {
		if w.cmd.Process != nil {
			w.cmd.Process.Kill()
			if w.cmd.SysProcAttr != nil && w.cmd.SysProcAttr.Setpgid {
				syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
			}
		}
		w.req.Close()
		select {
		case <-w.exited:
		case <-time.After(10 * time.Second):
		}
		w.resp.Close()
		w.cleanupTmp()
		w.cg.close()
	})
}

func (w *worker) cleanupTmp() {
	if w.tmpDir != "" {
		os.RemoveAll(w.tmpDir)
	}
}

// encodeRequest frames a program for the zygote (decoded by _child in
// zygote.py) without JSON, which would cost the forked child a json.loads:
// a flag byte (1 when an input follows), the code's length (4 bytes,
// big-endian), the code, then the input's JSON text. Both are made valid
// UTF-8 as encoding/json would: each invalid byte becomes U+FFFD.
func encodeRequest(code string, input *string) []byte {
	code = validUTF8(code)
	in := ""
	if input != nil {
		in = validUTF8(*input)
	}
	b := make([]byte, 4+5+len(code)+len(in))
	binary.BigEndian.PutUint32(b, uint32(len(b)-4)) // the frame's length
	if input != nil {
		b[4] = 1
	}
	binary.BigEndian.PutUint32(b[5:], uint32(len(code)))
	copy(b[9:], code)
	copy(b[9+len(code):], in)
	return b
}

// validUTF8 replaces each byte of s that is not part of valid UTF-8 with
// U+FFFD, like encoding/json does when it marshals a string.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

type limits struct {
	CPU    int   `json:"cpu"`
	Memory int64 `json:"memory"`
	Nproc  int   `json:"nproc"`
	Fsize  int64 `json:"fsize"`
	Nofile int   `json:"nofile"`
}

func programLimits(o Options) limits {
	mem := o.Memory
	if mem < 0 {
		mem = 0
	}
	return limits{
		CPU:    int(math.Ceil(o.Timeout.Seconds())) + 1,
		Memory: mem,
		Nproc:  o.MaxProcs,
		Fsize:  o.MaxFileSize,
		Nofile: o.MaxOpenFiles,
	}
}

type header struct {
	Timeout     bool    `json:"timeout"`
	OutputLimit bool    `json:"output_limit"`
	ResultLimit bool    `json:"result_limit"`
	Signal      int     `json:"signal"`
	Exit        *int    `json:"exit"`
	Ms          float64 `json:"ms"`
	Error       string  `json:"error"`
	// Retire: the zygote could not restore a clean state after the program
	// (its /tmp could not be emptied, ...) and exits; the engine starts a
	// fresh worker. The program's own result stands.
	Retire string `json:"retire"`
}

// childResult is what the program's process reports after the program:
// data the program can shape at will (it can write this frame itself), so
// no rule is taken from it, only the values and an exception's text.
type childResult struct {
	Status    string          `json:"status"`
	Reason    string          `json:"reason"`
	Traceback string          `json:"traceback"`
	HasInput  bool            `json:"has_input"`
	Input     json.RawMessage `json:"input"`
	HasOutput bool            `json:"has_output"`
	Output    json.RawMessage `json:"output"`
}

func (w *worker) run(ctx context.Context, o Options, code string, input *string) (Result, error) {
	frame := encodeRequest(code, input)
	stop := context.AfterFunc(ctx, w.kill)
	defer stop()
	oom0 := w.cg.oomKills()
	fail := func(what string, err error) (Result, error) {
		var r Result
		if w.cg.oomKills() > oom0 {
			r = Result{Status: StatusMemory, Reason: "the sandbox's memory limit was hit (the OOM killer stopped the sandbox)"}
		}
		return r, fmt.Errorf("%s: %w%s", what, err, w.stderrNote())
	}
	if _, err := w.req.Write(frame); err != nil {
		return fail("sending the program to the sandbox", err)
	}
	// Backstop: the zygote enforces the timeout itself; if it does not
	// answer well after that, the whole worker is killed.
	w.resp.SetReadDeadline(time.Now().Add(o.Timeout + 10*time.Second))
	hdrB, err := readFrame(w.resp, 1<<20)
	if err != nil {
		return fail("reading the sandbox's answer", err)
	}
	resB, err := readFrame(w.resp, maxResult(o))
	if err != nil {
		return fail("reading the sandbox's answer", err)
	}
	outB, err := readFrame(w.resp, o.MaxStdout)
	if err != nil {
		return fail("reading the sandbox's answer", err)
	}
	factB, err := readFrame(w.resp, maxResult(o))
	if err != nil {
		return fail("reading the sandbox's answer", err)
	}
	var h header
	if err := json.Unmarshal(hdrB, &h); err != nil {
		return Result{}, fmt.Errorf("decoding the sandbox's answer: %w", err)
	}
	var facts codeFacts
	if len(factB) > 0 {
		if err := json.Unmarshal(factB, &facts); err != nil {
			return Result{}, fmt.Errorf("decoding the code's facts from the sandbox: %w", err)
		}
	}
	facts.EngineInput = input != nil
	r := buildResult(h, resB, outB, facts, o.MaxDigits)
	if h.Retire != "" {
		w.retire = h.Retire
	}
	if r.Status == StatusKilled && h.Signal == int(syscall.SIGKILL) && w.cg.oomKills() > oom0 {
		r.Status, r.Reason = StatusMemory, "the sandbox's memory limit was hit (killed by the OOM killer)"
	}
	return r, nil
}

// buildResult turns the zygote's answer into a Result. The status of a
// crash comes from the exit status the zygote saw; the rules' facts come
// from the code's names (computed before the program ran) and the
// serialised values, never from anything the program reported about
// itself.
func buildResult(h header, resB, outB []byte, facts codeFacts, maxDigits int) Result {
	r := Result{Stdout: strings.ToValidUTF8(string(outB), "\uFFFD"), Elapsed: time.Duration(h.Ms * float64(time.Millisecond))}
	var cr childResult
	haveResult := false
	if len(resB) > 0 && !h.ResultLimit {
		if err := json.Unmarshal(resB, &cr); err == nil && cr.Status != "" {
			haveResult = true
		}
	}
	switch {
	case h.Error != "":
		r.Status, r.Reason = StatusSandboxError, h.Error
	case facts.SetupError != "":
		r.Status, r.Reason = StatusSandboxError, facts.SetupError
	case h.OutputLimit:
		r.Status, r.Reason = StatusOutputLimit, "stdout passed the limit"
	case h.ResultLimit:
		r.Status, r.Reason = StatusOutputLimit, "input or output value passed the limit"
	case h.Timeout:
		r.Status, r.Reason = StatusTimeout, "wall-clock time limit"
	case h.Signal == int(syscall.SIGXCPU):
		r.Status, r.Reason = StatusTimeout, "CPU time limit"
	case h.Signal != 0:
		r.Status, r.Reason = StatusKilled, "killed by "+signalName(h.Signal)
	case haveResult && h.Exit != nil && *h.Exit != 0:
		r.Status, r.Reason = StatusException, fmt.Sprintf("the process exited with status %d", *h.Exit)
	case haveResult && cr.Status != StatusOK && cr.Status != StatusException && cr.Status != StatusMemory:
		r.Status, r.Reason = StatusException, "the program corrupted its result channel"
	case haveResult:
		r.Status, r.Reason, r.Traceback = cr.Status, cr.Reason, cr.Traceback
		if r.Status == StatusMemory && r.Reason == "" {
			r.Reason = "MemoryError"
		}
	case len(resB) > 0:
		r.Status, r.Reason = StatusException, "the program corrupted its result channel"
	default:
		code := -1
		if h.Exit != nil {
			code = *h.Exit
		}
		r.Status, r.Reason = StatusException, fmt.Sprintf("the process exited with status %d before reporting a result", code)
	}
	if r.Status != StatusOK {
		return r
	}
	// A program has an input only if the engine bound one or its text binds
	// one: a program cannot claim an input it never had.
	r.HasInput = cr.HasInput && (facts.BindsInput || facts.EngineInput)
	if r.HasInput {
		r.Input = cr.Input
		r.InputEmpty = jsonEmpty(cr.Input)
		r.UnusedInput = unusedKeys(cr.Input, facts.Names, facts.InputKeys)
		if intDigits(cr.Input) > maxDigits {
			r.TooLarge, r.Input = "input", nil
		}
	}
	r.HasOutput = cr.HasOutput
	if cr.HasOutput {
		r.Output = cr.Output
		r.OutputEmpty = jsonEmpty(cr.Output)
		if intDigits(cr.Output) > maxDigits {
			if r.TooLarge == "" {
				r.TooLarge = "output"
			}
			r.Output = nil
		}
	} else {
		s := trimPython(r.Stdout)
		r.OutputEmpty = s == ""
		b, _ := json.Marshal(s)
		r.Output = b
	}
	return r
}

func signalName(sig int) string {
	switch syscall.Signal(sig) {
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGBUS:
		return "SIGBUS"
	case syscall.SIGFPE:
		return "SIGFPE"
	case syscall.SIGILL:
		return "SIGILL"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGXFSZ:
		return "SIGXFSZ"
	}
	return fmt.Sprintf("signal %d", sig)
}

func readFrame(r io.Reader, max int64) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if int64(size) > max {
		return nil, fmt.Errorf("frame of %d bytes is larger than %d", size, max)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// capBuffer keeps the first max bytes written to it.
type capBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (c *capBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - len(c.b); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		c.b = append(c.b, p[:room]...)
	}
	return len(p), nil
}

func (c *capBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.b)
}

// jsonEmpty: the value is null or "".
func jsonEmpty(v json.RawMessage) bool {
	t := strings.TrimSpace(string(v))
	return t == "null" || t == `""` || t == ""
}

// intDigits returns the number of digits of v when it is a JSON integer
// (no fraction, no exponent), else 0. Counting the serialised bytes cannot
// be fooled by an int subclass that overrides __abs__ or __str__.
func intDigits(v json.RawMessage) int {
	t := strings.TrimSpace(string(v))
	t = strings.TrimPrefix(t, "-")
	if t == "" {
		return 0
	}
	for i := 0; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return 0
		}
	}
	return len(t)
}

// unusedKeys lists the keys that are not among names (the identifiers of
// the code text): first those of the JSON object v (the final `input`; none
// when it is not an object), in order, then those of the code's own
// `input = {...}` literal (literal) not already listed. The literal's keys
// come from the code text, so a program that reports a different input
// still meets the rule.
func unusedKeys(v json.RawMessage, names, literal []string) []string {
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	var out []string
	listed := map[string]bool{}
	add := func(k string) {
		if !have[k] && !listed[k] {
			listed[k] = true
			out = append(out, k)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	if tok, err := dec.Token(); err == nil && tok == json.Delim('{') {
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			k, _ := tok.(string)
			add(k)
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				break
			}
		}
	}
	for _, k := range literal {
		add(k)
	}
	return out
}

// codeFacts are the facts of a program's text, found before it ran (see
// _code_facts in zygote.py), plus whether the engine bound an input.
type codeFacts struct {
	// SetupError: the child failed before the program ran (a sandbox
	// failure, not the program's).
	SetupError  string   `json:"setup_error"`
	Names       []string `json:"names"`
	BindsInput  bool     `json:"binds_input"`
	InputKeys   []string `json:"input_keys"`
	EngineInput bool     `json:"-"`
}
