package dedup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/caco-dev/caco/operators/load"
)

// expandAgainst resolves globs; every pattern must match a file.
func expandAgainst(pats []string) ([]string, error) {
	var out []string
	for _, p := range pats {
		if strings.ContainsAny(p, "*?[") {
			m, err := filepath.Glob(p)
			if err != nil {
				return nil, fmt.Errorf("expanding against pattern %q: %w", p, err)
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("against pattern %q matches no file", p)
			}
			sort.Strings(m)
			out = append(out, m...)
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("opening against file: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

func fingerprintFiles(files []string) (string, error) {
	var sb strings.Builder
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return "", fmt.Errorf("fingerprinting against file: %w", err)
		}
		fmt.Fprintf(&sb, "%s %d %d\n", f, st.Size(), st.ModTime().UnixNano())
	}
	return sb.String(), nil
}

// loadAgainst indexes the rows of the against datasets, in file order,
// without recording them in deltas (they are loaded again at every run).
// Files are read with the load operator's reader, so every format load
// reads works here.
func (d *Dedup) loadAgainst(ctx context.Context, alloc memory.Allocator) error {
	files, err := expandAgainst(d.againstPats)
	if err != nil {
		return err
	}
	var idBuf []byte
	for _, f := range files {
		base := filepath.Base(f)
		var rows, keyed, dups int
		err := load.ReadFiles(ctx, alloc, f, func(rec arrow.Record) error {
			sc := rec.Schema()
			ki := sc.FieldIndices(d.Key)
			if len(ki) == 0 {
				return fmt.Errorf("no column %q (columns: %s)", d.Key, columnNames(sc))
			}
			key, err := keyReader(rec.Column(ki[0]))
			if err != nil {
				return err
			}
			var idField arrow.Field
			var idCol arrow.Array
			if d.ID != "" {
				if ii := sc.FieldIndices(d.ID); len(ii) > 0 {
					idField, idCol = sc.Field(ii[0]), rec.Column(ii[0])
				}
			}
			n := int(rec.NumRows())
			if err := d.compute(ctx, n, key); err != nil {
				return err
			}
			for i := 0; i < n; i++ {
				rows++
				if d.feat.null[i] {
					continue
				}
				keyed++
				if idCol != nil && !idCol.IsNull(i) {
					idBuf = appendID(idBuf[:0], idField, idCol, 0, i)
				} else {
					idBuf = strconv.AppendInt(append(append(idBuf[:0], base...), ':'), int64(rows), 10)
				}
				if d.decide(i, idBuf, false).dup {
					dups++
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading against file %s: %w", f, err)
		}
		if rows > 0 && keyed == 0 {
			return fmt.Errorf("reading against file %s: no row has a value in column %q", f, d.Key)
		}
		if d.logf != nil {
			d.logf("dedup: indexed %d rows of %s (%d were duplicates among themselves)", keyed-dups, f, dups)
		}
	}
	return nil
}
