package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

var (
	quickstartOnce sync.Once
	quickstartDir  string
	quickstartErr  error
)

// quickstartRun runs recipes/quickstart.yaml once per test binary with the
// real caco binary and returns its run folder.
func quickstartRun(t *testing.T) string {
	t.Helper()
	bin := cacoBinary(t)
	quickstartOnce.Do(func() {
		dir, err := os.MkdirTemp("", "caco-quickstart-")
		if err != nil {
			quickstartErr = err
			return
		}
		quickstartDir = filepath.Join(dir, "run")
		cmd := exec.Command(bin, "run", filepath.Join(repoRoot, "recipes", "quickstart.yaml"), "--run-dir", quickstartDir, "--quiet")
		if out, err := cmd.CombinedOutput(); err != nil {
			quickstartErr = fmt.Errorf("caco run quickstart: %v\n%s", err, out)
		}
	})
	if quickstartErr != nil {
		t.Fatal(quickstartErr)
	}
	return quickstartDir
}

// chromiumPath finds Debian's chromium. Without one the test is skipped,
// except in CI (CI=true), where .ci/run installs it and its absence fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-headless-shell", "/usr/lib/chromium/chromium", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed, and CI must run the browser test: .ci/run installs Debian's chromium (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed: skipping the browser test of the report (apt-get install -y chromium to run it; CI always runs it)")
	return ""
}

// TestReportInBrowser opens the quickstart's report.html in headless
// chromium over the DevTools protocol: no console error, no uncaught
// exception, no network request; the funnel lists every step with the
// counts of stats.json; a reject example and a lineage sample are there.
// The screenshot is a test artifact (go test -artifacts) and, with -update,
// the README's testdata/report/quickstart.png.
func TestReportInBrowser(t *testing.T) {
	chrome := chromiumPath(t)
	dir := quickstartRun(t)
	page := filepath.Join(dir, "report.html")
	st, err := os.Stat(page)
	if err != nil {
		t.Fatalf("caco run wrote no report: %v", err)
	}
	if st.Size() > 5<<20 {
		t.Errorf("report.html is %d bytes, over 5 MB", st.Size())
	}
	t0 := time.Now()
	defer func() { t.Logf("browser part took %s", time.Since(t0)) }()
	var stats struct {
		Steps []struct {
			Step     string `json:"step"`
			RowsIn   int64  `json:"rows_in"`
			RowsOut  int64  `json:"rows_out"`
			Rejected int64  `json:"rejected"`
		} `json:"steps"`
	}
	readJSON(t, filepath.Join(dir, "stats.json"), &stats)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1200, 1000),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	url := "file://" + page
	var mu sync.Mutex
	var problems []string
	lerr := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value))
				}
				problems = append(problems, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "uncaught exception: "+e.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				problems = append(problems, fmt.Sprintf("log error (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			if e.Request.URL != url {
				problems = append(problems, "network request: "+e.Request.URL)
			}
		}
	})
	if lerr != nil {
		t.Fatalf("starting chromium: %v", lerr)
	}
	type funnelRow struct {
		Step, In, Out, Rejected, InText, OutText string
	}
	var rows []funnelRow
	var bars, examples, lineages, stages int
	var exampleText, title string
	var shot []byte
	// chromedp enables the runtime, log and network domains of the tab
	err = chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("table.funnel")))
	get := func(a func() error) {
		if err == nil {
			err = a()
		}
	}
	get(func() (e error) { title, e = chromedp.Run(ctx, chromedp.Title()); return })
	get(func() (e error) {
		rows, e = chromedp.Run(ctx, chromedp.Evaluate[[]funnelRow](`Array.from(document.querySelectorAll("table.funnel tbody tr")).map(tr => ({Step: tr.dataset.step, In: tr.dataset.in, Out: tr.dataset.out, Rejected: tr.dataset.rejected, InText: tr.cells[2].innerText, OutText: tr.cells[3].innerText}))`))
		return
	})
	get(func() (e error) {
		bars, e = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#funnel svg g.frow").length`))
		return
	})
	get(func() (e error) {
		examples, e = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#rejects .example").length`))
		return
	})
	get(func() (e error) {
		exampleText, e = chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("#rejects .example")).map(e => e.textContent).join("\n")`))
		return
	})
	get(func() (e error) {
		lineages, e = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#datasets .lineage").length`))
		return
	})
	get(func() (e error) {
		stages, e = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#datasets .lineage .stage").length`))
		return
	})
	get(func() (e error) { shot, e = chromedp.Run(ctx, chromedp.FullScreenshot(100)); return })
	var top []byte // the first screen, for the README
	get(func() (e error) { top, e = chromedp.Run(ctx, chromedp.CaptureScreenshot()); return })
	if err != nil {
		t.Fatalf("driving chromium: %v", err)
	}
	// let late events arrive
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	for _, p := range problems {
		t.Errorf("in the browser: %s", p)
	}
	mu.Unlock()

	if !strings.Contains(title, "quickstart") {
		t.Errorf("title %q does not name the recipe", title)
	}
	if len(rows) != len(stats.Steps) || bars != len(stats.Steps) {
		t.Fatalf("funnel shows %d table rows and %d bars, the run has %d steps", len(rows), bars, len(stats.Steps))
	}
	// every step once, with the counts of stats.json, in an order where
	// each step comes after its inputs
	pos := map[string]int{}
	for i, r := range rows {
		pos[r.Step] = i
	}
	for _, s := range stats.Steps {
		i, ok := pos[s.Step]
		if !ok {
			t.Errorf("funnel lacks step %s", s.Step)
			continue
		}
		r := rows[i]
		if r.In != fmt.Sprint(s.RowsIn) || r.Out != fmt.Sprint(s.RowsOut) || r.Rejected != fmt.Sprint(s.Rejected) {
			t.Errorf("funnel row %+v, stats.json says %s %d→%d (%d rejected)", r, s.Step, s.RowsIn, s.RowsOut, s.Rejected)
		}
		if r.InText != num(s.RowsIn) || r.OutText != num(s.RowsOut) {
			t.Errorf("funnel row %s shows %q→%q, want %d→%d", s.Step, r.InText, r.OutText, s.RowsIn, s.RowsOut)
		}
	}
	for _, s := range stats.Steps {
		var fp struct {
			Inputs []string `json:"inputs"`
		}
		readJSON(t, filepath.Join(dir, "steps", s.Step, "fingerprint.json"), &fp)
		for _, in := range fp.Inputs {
			if pos[in] >= pos[s.Step] {
				t.Errorf("funnel shows %s before its input %s", s.Step, in)
			}
		}
	}
	if examples == 0 {
		t.Error("no reject example shown")
	}
	// the quickstart's seed program that computes 6!/3! for BANANA
	if !strings.Contains(exampleText, "answer=60 output=120") {
		t.Errorf("the consistency mismatch example with its detail is missing; examples:\n%.2000s", exampleText)
	}
	if lineages == 0 || stages < 2*lineages {
		t.Errorf("%d lineage samples with %d stages", lineages, stages)
	}
	if !bytes.HasPrefix(shot, []byte("\x89PNG")) || !bytes.HasPrefix(top, []byte("\x89PNG")) {
		t.Errorf("screenshots are not PNG")
	}
	art := filepath.Join(t.ArtifactDir(), "quickstart-report.png")
	if err := os.WriteFile(art, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", art)
	if *update {
		if err := os.WriteFile(filepath.Join(repoRoot, "testdata", "report", "quickstart.png"), top, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// num formats like the report does (thousands separators).
func num(n int64) string {
	s := fmt.Sprint(n)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// TestReportCommand: `caco report` on a finished run writes report.html
// and the dataset card, -o - prints the page, a folder that is not a run
// fails with a clear message, and a file caco did not write is not
// replaced.
func TestReportCommand(t *testing.T) {
	dir := quickstartRun(t)
	stdout, stderr, code := caco(t, "report", dir, "-o", "-")
	if code != 0 || !strings.HasPrefix(stdout, "<!DOCTYPE html>") || !strings.Contains(stdout, `data-step="save_parquet"`) {
		t.Fatalf("caco report -o -: exit %d, stderr %s, stdout %.200s", code, stderr, stdout)
	}
	card := mustReadString(t, filepath.Join(dir, "DATASET_CARD.md"))
	for _, want := range []string{"# Dataset card: quickstart", "`caco.jsonl`, `caco.parquet`", "| `instruction` | string |", "caco run ", "recipe_sha256", "Qwen/Qwen3-8B", "temperature="} {
		if want == "recipe_sha256" {
			var m map[string]any
			readJSON(t, filepath.Join(dir, "manifest.json"), &m)
			if h, _ := m["recipe_sha256"].(string); len(h) != 64 || !strings.Contains(card, h) {
				t.Errorf("card does not carry the recipe hash %q", h)
			}
			continue
		}
		if !strings.Contains(card, want) {
			t.Errorf("dataset card lacks %q:\n%s", want, card)
		}
	}
	// the card's funnel is stats.json's
	var stats struct {
		Steps []struct {
			Step     string `json:"step"`
			Op       string `json:"op"`
			RowsIn   int64  `json:"rows_in"`
			RowsOut  int64  `json:"rows_out"`
			Rejected int64  `json:"rejected"`
		} `json:"steps"`
	}
	readJSON(t, filepath.Join(dir, "stats.json"), &stats)
	for _, st := range stats.Steps {
		row := fmt.Sprintf("| %s | %s | %d | %d | %d |", st.Step, st.Op, st.RowsIn, st.RowsOut, st.Rejected)
		if !strings.Contains(card, row) {
			t.Errorf("card funnel lacks %q", row)
		}
	}
	_, stderr, code = caco(t, "report", t.TempDir())
	if code != exitFail || !strings.Contains(stderr, "is not a run folder") {
		t.Errorf("report of an empty folder: exit %d, %s", code, stderr)
	}
	// a report.html the user put there is theirs
	other := t.TempDir()
	copyDir(t, dir, other)
	if err := os.WriteFile(filepath.Join(other, "report.html"), []byte("<html>mine</html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = caco(t, "report", other)
	if code != exitFail || !strings.Contains(stderr, "not replacing") {
		t.Errorf("report over a foreign file: exit %d, %s", code, stderr)
	}
	if got := mustReadString(t, filepath.Join(other, "report.html")); got != "<html>mine</html>" {
		t.Errorf("foreign report.html was replaced")
	}
	var m map[string]json.RawMessage
	readJSON(t, filepath.Join(dir, "manifest.json"), &m)
	if !strings.Contains(string(m["command"]), "caco run ") {
		t.Errorf("manifest command %s", m["command"])
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from+"/.", to).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
}
