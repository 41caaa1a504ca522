package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caco-dev/caco/operators/generate/llmtest"
	"github.com/creack/pty"
)

// progressRecipe writes rows.jsonl and a recipe load → generate → write
// against url, with batches of batch rows.
func progressRecipe(t *testing.T, dir, url string, rows, batch, conc int) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&b, "{\"id\": %d, \"question\": \"question %d\"}\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "rows.jsonl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	recipe := filepath.Join(dir, "gen.yaml")
	err := os.WriteFile(recipe, []byte(fmt.Sprintf(`caco: 1
name: gen-progress
models:
  m:
    base_url: %s
    model: test-model
    api: completions
    concurrency: %d
steps:
  rows:
    op: load
    path: rows.jsonl
    batch_size: %d
  a_step_with_a_rather_long_name_for_the_table:
    op: generate
    input: rows
    model: m
    prompt: "Q: {{.question}}"
    temperature: 0
  save:
    op: write
    input: a_step_with_a_rather_long_name_for_the_table
    path: ${run_dir}/out.jsonl
`, url, conc, batch)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return recipe
}

// screen is a small terminal emulator: enough of a VT100 for what the live
// table writes (printable text with auto-wrap, CR, LF, cursor up, erase to
// end of line and of screen), and scrolling. It counts wraps: the table
// must never wrap.
type screen struct {
	w, h    int
	lines   [][]rune // every line ever shown; the screen is the last h
	x, y    int      // y indexes lines
	pending bool     // at the right margin: the next character wraps
	wrapped []string // lines that wrapped
}

func newScreen(w, h int) *screen { return &screen{w: w, h: h, lines: [][]rune{make([]rune, 0)}} }

func (s *screen) top() int { return max(0, len(s.lines)-s.h) }

func (s *screen) newline() {
	s.y++
	if s.y == len(s.lines) {
		s.lines = append(s.lines, nil)
	}
}

func (s *screen) put(r rune) {
	if s.pending {
		s.wrapped = append(s.wrapped, string(s.lines[s.y]))
		s.x = 0
		s.newline()
		s.pending = false
	}
	line := s.lines[s.y]
	for len(line) <= s.x {
		line = append(line, ' ')
	}
	line[s.x] = r
	s.lines[s.y] = line
	if s.x == s.w-1 {
		s.pending = true
	} else {
		s.x++
	}
}

func (s *screen) write(data string) {
	rs := []rune(data)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\r':
			s.x, s.pending = 0, false
		case r == '\n':
			s.pending = false
			s.newline()
		case r == 0x1b && i+1 < len(rs) && rs[i+1] == '[':
			j := i + 2
			n := 0
			for j < len(rs) && rs[j] >= '0' && rs[j] <= '9' {
				n = n*10 + int(rs[j]-'0')
				j++
			}
			if j >= len(rs) {
				return
			}
			switch rs[j] {
			case 'A':
				s.y = max(s.top(), s.y-max(n, 1))
				s.pending = false
			case 'K':
				if s.x < len(s.lines[s.y]) {
					s.lines[s.y] = s.lines[s.y][:s.x]
				}
			case 'J':
				if s.x < len(s.lines[s.y]) {
					s.lines[s.y] = s.lines[s.y][:s.x]
				}
				s.lines = s.lines[:s.y+1]
			}
			i = j
		case r < 0x20:
		default:
			s.put(r)
		}
	}
}

// text is what the screen shows now, trailing blanks trimmed.
func (s *screen) text() []string {
	var out []string
	for _, l := range s.lines[s.top():] {
		out = append(out, strings.TrimRight(string(l), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// TestLiveTableUnderPTY runs caco under a pseudo-terminal of 80 and of 200
// columns while a generate step waits on a slow test server: the table is
// redrawn in place, so after the run the screen holds one table (not
// stacked copies), no line ever wrapped, and the generate line showed
// requests finishing inside a batch before the batch was committed.
func TestLiveTableUnderPTY(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := cacoBinary(t)
	srv, err := llmtest.Start(llmtest.Config{Latency: 150 * time.Millisecond}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, size := range []struct{ w, h int }{{80, 40}, {200, 50}, {80, 6}} {
		t.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(t *testing.T) {
			dir := t.TempDir()
			// one batch of 40 rows, 4 at a time: about 1.5 s inside one batch
			recipe := progressRecipe(t, dir, srv.URL(), 40, 100, 4)
			cmd := exec.Command(bin, "run", recipe, "--run-dir", filepath.Join(dir, "run"))
			f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(size.w), Rows: uint16(size.h)})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var raw bytes.Buffer
			done := make(chan error, 1)
			go func() {
				_, err := io.Copy(&raw, f)
				done <- err
			}()
			werr := cmd.Wait()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("pty output did not end")
			}
			if werr != nil {
				t.Fatalf("caco run: %v\n%s", werr, raw.String())
			}
			out := raw.String()
			sc := newScreen(size.w, size.h)
			sc.write(out)
			final := sc.text()
			// the live table and the funnel fit; only the closing message
			// with the run folder's path may be longer
			for _, l := range sc.wrapped {
				if !strings.HasPrefix(l, "done in") {
					t.Errorf("a line wrapped at %d columns: %q; screen:\n%s", size.w, l, strings.Join(final, "\n"))
				}
			}
			heads := 0
			for _, l := range final {
				if strings.HasPrefix(l, "caco run gen-progress") {
					heads++
				}
			}
			if size.h >= 40 && heads != 1 {
				t.Errorf("the screen holds %d live tables, want 1:\n%s", heads, strings.Join(final, "\n"))
			}
			if !strings.Contains(strings.Join(final, "\n"), "done in") {
				t.Errorf("no final summary on screen:\n%s", strings.Join(final, "\n"))
			}
			if redraws := strings.Count(out, "caco run gen-progress"); redraws < 2 {
				t.Errorf("the table was drawn %d times; the run took long enough for several", redraws)
			}
			// rows counted inside the batch: some frame shows 0 < done < 40
			// while the batch (one of 40 rows) was not committed yet
			partial := false
			for _, frame := range strings.Split(out, "caco run gen-progress") {
				for _, line := range strings.Split(frame, "\n") {
					if strings.Contains(line, "a_step_with") && !strings.Contains(line, "40/40") && !strings.Contains(line, " 0/40") && strings.Contains(line, "/40") {
						partial = true
					}
				}
			}
			if !partial {
				t.Errorf("no frame showed rows finishing inside the batch; output:\n%.3000s", out)
			}
			if size.w == 200 && !strings.Contains(out, "req 40/40") {
				t.Errorf("at 200 columns the generate line lacks its requests; output:\n%.3000s", out)
			}
		})
	}
}

// TestProgressLogBusyStep: off a terminal, a line per active step every
// --log-interval, including a step that is busy but has finished nothing.
func TestProgressLogBusyStep(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := cacoBinary(t)
	srv, err := llmtest.Start(llmtest.Config{Latency: 1500 * time.Millisecond}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	recipe := progressRecipe(t, dir, srv.URL(), 2, 100, 2)
	cmd := exec.Command(bin, "run", recipe, "--run-dir", filepath.Join(dir, "run"), "--log-interval", "300ms")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		errors.As(err, &ee)
		t.Fatalf("caco run: %v\n%s", err, stderr.String())
	}
	busy := false
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "a_step_with") && strings.Contains(line, "fly 2") && strings.Contains(line, " 0/2") {
			busy = true
		}
	}
	if !busy {
		t.Errorf("no progress line for the generate step while its 2 requests were in flight:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "\x1b[") {
		t.Errorf("terminal escapes in a log:\n%q", stderr.String())
	}
}
