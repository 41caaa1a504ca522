package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/caco-dev/caco/engine/recipetest"
)

// testMain is `caco test RECIPE...`: run each recipe against the fixtures
// its test file (NAME.test.yaml beside NAME.yaml) declares and check the
// expectations; see package recipetest for the file format.
func testMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	update := fs.Bool("update", false, "rewrite the counts in each test file from its run")
	keep := fs.Bool("keep", false, "keep each run folder and print where it is")
	verbose := fs.Bool("v", false, "print the runs' progress lines on stderr")
	tmp := fs.String("tmp", "", "make run folders in DIR (default: the system's temporary folder)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: caco test [--update] [--keep] [-v] RECIPE|TEST...")
		fmt.Fprintln(stderr, "  NAME.yaml is tested by NAME.test.yaml beside it; recipes/*.yaml runs each test once")
		fs.PrintDefaults()
	}
	first, rest, ok := splitArgs(fs, args)
	if !ok {
		return exitUsage
	}
	if first == "" {
		fs.Usage()
		return exitUsage
	}
	opts := recipetest.SuiteOptions{Update: *update}
	opts.Keep = *keep
	opts.TempDir = *tmp
	if *verbose {
		opts.Log = stderr
	}
	return recipetest.RunAll(ctx, append([]string{first}, rest...), opts, stdout, stderr)
}
