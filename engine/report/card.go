package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/checkpoint"
)

// Marker starts every file the report writes; a file at the same path
// without it was not written by caco and is never replaced.
const (
	htmlMarker = "<!DOCTYPE html>\n<html lang=\"en\" data-generator=\"caco run report\">"
	cardMarker = "<!-- caco dataset card -->"
)

// CardName is the dataset card's file name in the run folder.
const CardName = "DATASET_CARD.md"

// sampling keys of a generate step shown on the card.
var samplingKeys = []string{"n", "temperature", "top_p", "max_tokens", "seed", "extra"}

// WriteCard writes the dataset card: what the datasets are, their columns,
// row counts, the recipe and how to reproduce it, the models and their
// sampling parameters, the funnel and the date.
func WriteCard(w io.Writer, r *Run, ds []*Dataset, now time.Time) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n# Dataset card: %s\n\n", cardMarker, r.Recipe)
	fmt.Fprintf(&b, "Made with [caco](https://github.com/caco-dev/caco), an implementation of the Caco method (code-assisted chain-of-thought: reasoning data whose answers are checked by executing programs).\n\n")
	fmt.Fprintf(&b, "- Run status: **%s**", r.Status)
	if r.Status != "complete" {
		b.WriteString(" (the figures cover the batches committed so far)")
	}
	fmt.Fprintf(&b, "\n- Started: %s; last update: %s\n- Card written: %s\n", r.Started.UTC().Format(time.RFC3339), r.Updated.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- Recipe: `%s`", r.File)
	if r.Hash != "" {
		fmt.Fprintf(&b, " (sha256 `%s`)", r.Hash)
	}
	b.WriteString("\n")
	cmd := r.Command
	if cmd == "" {
		cmd = "caco run " + r.File
	}
	fmt.Fprintf(&b, "- Reproduce: `%s`\n", cmd)
	if len(r.Shards) > 0 {
		fmt.Fprintf(&b, "- Shards: %d (%s … %s), added up\n", len(r.Shards), r.Shards[0], r.Shards[len(r.Shards)-1])
	}
	b.WriteString("\n## Datasets\n\n")
	if len(ds) == 0 {
		b.WriteString("No final dataset has been written yet.\n")
	}
	for _, d := range ds {
		var names []string
		for _, p := range d.Paths {
			names = append(names, "`"+filepath.Base(p)+"`")
		}
		fmt.Fprintf(&b, "### %s\n\n%d rows (step `%s`).\n\n| column | type |\n|---|---|\n", strings.Join(names, ", "), d.Rows, d.Step)
		for _, c := range d.Columns {
			fmt.Fprintf(&b, "| `%s` | %s |\n", c.Name, c.Type)
		}
		for _, m := range d.Mixes {
			var parts []string
			for _, s := range m.Shares {
				parts = append(parts, fmt.Sprintf("%s %d", s.Name, s.N))
			}
			fmt.Fprintf(&b, "\n`%s` in a sample of %d rows: %s.\n", m.Column, d.Sample, strings.Join(parts, ", "))
		}
		b.WriteString("\n")
	}
	b.WriteString("## Models and sampling\n\n")
	found := false
	for _, s := range r.Steps {
		if s.Op != "generate" {
			continue
		}
		found = true
		model := s.ConfigString("model")
		if id := r.Models[model]; id != "" {
			model += " (" + id + ")"
		}
		var params []string
		for _, k := range samplingKeys {
			if v := s.ConfigString(k); v != "" {
				params = append(params, k+"="+v)
			}
		}
		fmt.Fprintf(&b, "- `%s`: model %s; %s\n", s.Name, model, strings.Join(params, ", "))
	}
	if !found {
		b.WriteString("No LLM step.\n")
	}
	b.WriteString("\n## Funnel\n\n| step | op | rows in | rows out | rejected | rejects by reason |\n|---|---|--:|--:|--:|---|\n")
	for _, s := range r.Steps {
		var reasons []string
		keys := make([]string, 0, len(s.Rejects))
		for k := range s.Rejects {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			reasons = append(reasons, fmt.Sprintf("%s=%d", k, s.Rejects[k]))
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %s |\n", s.Name, s.Op, s.RowsIn, s.RowsOut, s.Rejected, strings.Join(reasons, " "))
	}
	b.WriteString("\nEvery dropped row is in the run folder's `rejects.jsonl` with its reason. This card and `report.html` carry dates and timings, so they differ between runs; the datasets do not.\n")
	_, err := w.Write(b.Bytes())
	return err
}

// WriteFiles renders report.html and DATASET_CARD.md into the run folder
// (or folder of shards) dir. A file of either name that caco did not
// write is left alone and reported as an error.
func WriteFiles(dir string, now time.Time) error {
	r, err := Load(dir)
	if err != nil {
		return err
	}
	ds, err := r.Datasets(memory.NewGoAllocator())
	if err != nil {
		return err
	}
	var page bytes.Buffer
	if err := writeHTML(&page, r, ds, now); err != nil {
		return err
	}
	var card bytes.Buffer
	if err := WriteCard(&card, r, ds, now); err != nil {
		return err
	}
	return errors.Join(
		writeOwned(filepath.Join(dir, "report.html"), page.Bytes(), htmlMarker),
		writeOwned(filepath.Join(dir, CardName), card.Bytes(), cardMarker),
	)
}

// writeOwned writes data to path atomically unless path holds a file that
// does not start with marker.
func writeOwned(path string, data []byte, marker string) error {
	f, err := os.Open(path)
	if err == nil {
		head := make([]byte, len(marker))
		n, _ := io.ReadFull(f, head)
		f.Close()
		if string(head[:n]) != marker {
			return fmt.Errorf("not replacing %s: caco did not write it (move it away to get a new one)", path)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	return checkpoint.WriteFileAtomic(path, data)
}
