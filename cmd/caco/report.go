package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/caco-dev/caco/engine/checkpoint"
	"github.com/caco-dev/caco/engine/report"
)

func init() {
	commands["report"] = command{"write a run folder's HTML report (complete, failed, running or sharded runs)", reportMain}
}

// reportMain is `caco report RUN_DIR [-o FILE]`: the report of a run from
// its folder alone, so it works while the run goes on or after it failed.
// Without -o it writes RUN_DIR/report.html and RUN_DIR/DATASET_CARD.md.
func reportMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the HTML report to FILE (- for stdout) instead of RUN_DIR/report.html")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: caco report RUN_DIR [-o FILE]")
		fmt.Fprintln(stderr, "  RUN_DIR is a run folder (runs/<name>) or a folder of shard folders (runs/<name>/shard-*)")
		fs.PrintDefaults()
	}
	dir, rest, ok := splitArgs(fs, args)
	if !ok || dir == "" || len(rest) > 0 {
		if ok {
			fs.Usage()
		}
		return exitUsage
	}
	now := time.Now()
	if *out == "" {
		if err := report.WriteFiles(dir, now); err != nil {
			fmt.Fprintf(stderr, "caco report: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "%s\n%s\n", filepath.Join(dir, "report.html"), filepath.Join(dir, report.CardName))
		return exitOK
	}
	r, err := report.Load(dir)
	if err != nil {
		fmt.Fprintf(stderr, "caco report: %v\n", err)
		return exitFail
	}
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, r, now); err != nil {
		fmt.Fprintf(stderr, "caco report: %v\n", err)
		return exitFail
	}
	if *out == "-" {
		_, err = stdout.Write(buf.Bytes())
	} else {
		err = checkpoint.WriteFileAtomic(*out, buf.Bytes())
	}
	if err != nil {
		fmt.Fprintf(stderr, "caco report: %v\n", err)
		return exitFail
	}
	return exitOK
}

// writeRunReport writes dir's report.html and dataset card at the end of a
// run, merge or shard, failed ones too; a problem is printed, not fatal.
func writeRunReport(dir, who string, stderr io.Writer) {
	if err := report.WriteFiles(dir, time.Now()); err != nil && !errors.Is(err, report.ErrNoRun) {
		fmt.Fprintf(stderr, "%s: writing the report: %v\n", who, err)
	}
}
