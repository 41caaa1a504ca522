// Command caco runs Caco recipes: declarative DAGs that generate, execute,
// verify and deduplicate reasoning data over Arrow record batches.
//
//	caco run RECIPE        run (or resume) a recipe
//	caco validate FILE...  check recipes without running anything
//	caco graph RECIPE      print the DAG (DOT or Mermaid)
//	caco ops [NAME]        operator reference, from the operators' specs
//	caco schema            the recipe JSON Schema
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // invalid recipe or failed run
	exitUsage = 2
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands is filled by the files of this package.
var commands = map[string]command{}

func main() {
	initHooks()
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// initHooks run before anything else (the sandbox's re-exec init lives here).
var preMain []func()

func initHooks() {
	for _, f := range preMain {
		f()
	}
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "caco: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cmd.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "caco: verifiable reasoning data from declarative recipes")
	fmt.Fprintln(w, "\nusage: caco COMMAND [flags] [args]\n\ncommands:")
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-15s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nrun 'caco COMMAND -h' for a command's flags")
}
