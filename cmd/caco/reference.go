package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/recipe"
)

func init() {
	commands["ops"] = command{"operator reference (all, or one by name)", opsMain}
	commands["schema"] = command{"print the recipe JSON Schema", schemaMain}
}

func opsMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ops", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	specs := op.All()
	if fs.NArg() > 0 {
		specs = nil
		for _, name := range fs.Args() {
			s, ok := op.Lookup(name)
			if !ok {
				fmt.Fprintf(stderr, "caco ops: unknown op %q (ops: %s)\n", name, strings.Join(op.Names(), ", "))
				return exitUsage
			}
			specs = append(specs, s)
		}
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stdout, "Operators (caco ops NAME for one; every step also takes the engine keys below)")
		fmt.Fprintln(stdout)
		for _, s := range specs {
			fmt.Fprintf(stdout, "  %-12s %s\n", s.Name, s.Summary)
		}
		fmt.Fprintln(stdout, "\nEngine keys of every step:")
		writeFields(stdout, op.CommonFields, "  ")
		return exitOK
	}
	for i, s := range specs {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		writeSpec(stdout, s)
	}
	return exitOK
}

func writeSpec(w io.Writer, s *op.Spec) {
	fmt.Fprintf(w, "%s — %s\n", s.Name, s.Summary)
	if s.Doc != "" {
		fmt.Fprintf(w, "\n%s\n", wrap(s.Doc, 78, ""))
	}
	if s.RowLocal {
		fmt.Fprintln(w, "\nRow-local: sharded runs split this step between shards (caco slurm, --shard).")
	} else {
		fmt.Fprintln(w, "\nGlobal: needs every row; sharded runs meet here (caco merge, caco slurm).")
	}
	fmt.Fprintln(w, "\nKeys:")
	writeFields(w, s.Fields, "  ")
	if s.Example != "" {
		fmt.Fprintf(w, "\nExample:\n%s", indentText(s.Example, "  "))
	}
}

func writeFields(w io.Writer, fields []op.Field, indent string) {
	for _, f := range fields {
		kind := string(f.Kind)
		if f.Kind == op.Enum {
			kind = strings.Join(f.Enum, "|")
		}
		if f.Kind == op.Map && f.Elem != "" {
			kind = "map of " + string(f.Elem)
		}
		extra := ""
		if f.Required {
			extra = ", required"
		}
		if f.Default != nil {
			extra += fmt.Sprintf(", default %v", f.Default)
		}
		fmt.Fprintf(w, "%s%s (%s%s)\n", indent, f.Name, kind, extra)
		if f.Doc != "" {
			fmt.Fprintf(w, "%s\n", wrap(f.Doc, 74, indent+"    "))
		}
		if len(f.Fields) > 0 {
			writeFields(w, f.Fields, indent+"    ")
		}
	}
}

// wrap fills each line of s (a paragraph or a list item) to width.
func wrap(s string, width int, indent string) string {
	paras := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, p := range paras {
		paras[i] = wrapPara(p, width, indent)
	}
	return strings.Join(paras, "\n")
}

func wrapPara(s string, width int, indent string) string {
	var out, line strings.Builder
	for _, word := range strings.Fields(s) {
		if line.Len() > 0 && line.Len()+1+len(word) > width {
			out.WriteString(indent + line.String() + "\n")
			line.Reset()
		}
		if line.Len() > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(word)
	}
	if line.Len() > 0 {
		out.WriteString(indent + line.String())
	}
	return out.String()
}

func indentText(s, pre string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(pre + l + "\n")
	}
	return b.String()
}

func schemaMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: caco schema")
		return exitUsage
	}
	b, err := recipe.JSONSchema()
	if err != nil {
		fmt.Fprintf(stderr, "caco schema: %v\n", err)
		return exitFail
	}
	_, _ = stdout.Write(b)
	return exitOK
}
