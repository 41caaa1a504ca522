package load

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Formats accepted by `format:`.
const (
	FormatAuto    = "auto"
	FormatJSONL   = "jsonl"
	FormatParquet = "parquet"
	FormatCSV     = "csv"
	FormatTSV     = "tsv"
	FormatArrow   = "arrow"
	FormatHF      = "hf"
)

// Formats lists the values of `format:`.
var Formats = []string{FormatAuto, FormatJSONL, FormatParquet, FormatCSV, FormatTSV, FormatArrow, FormatHF}

// srcFile is one file to read, with the format it is read as.
type srcFile struct {
	path   string
	format string // jsonl, parquet, csv, tsv or arrow (hf folders expand to arrow files)
}

// hfState is the part of a `save_to_disk` folder's state.json that matters.
type hfState struct {
	DataFiles []struct {
		Filename string `json:"filename"`
	} `json:"_data_files"`
}

func hasMeta(p string) bool { return strings.ContainsAny(p, "*?[") }

// formatOf tells a file's format from its extension (after a .gz or .zst
// suffix); "" when unknown.
func formatOf(name string) string {
	n := strings.ToLower(name)
	n = strings.TrimSuffix(strings.TrimSuffix(n, ".gz"), ".zst")
	switch filepath.Ext(n) {
	case ".jsonl", ".ndjson", ".json":
		return FormatJSONL
	case ".parquet", ".pq":
		return FormatParquet
	case ".csv":
		return FormatCSV
	case ".tsv":
		return FormatTSV
	case ".arrow", ".arrows", ".feather", ".ipc":
		return FormatArrow
	}
	return ""
}

// resolveFiles expands path (a file, a glob or a save_to_disk folder) into
// the files to read, in reading order. format is the configured format
// ("auto" or one of Formats).
func resolveFiles(path, format string) ([]srcFile, error) {
	if path == "" {
		return nil, errors.New("path is empty")
	}
	var names []string
	if hasMeta(path) {
		m, err := filepath.Glob(path)
		if err != nil {
			return nil, fmt.Errorf("bad glob %q: %w", path, err)
		}
		for _, n := range m {
			st, err := os.Stat(n)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", n, err)
			}
			if st.IsDir() && !isHFDir(n) {
				continue // a glob such as data/* may match folders; skip plain ones
			}
			names = append(names, n)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("no file matches %s", path)
		}
		sort.Strings(names)
	} else {
		st, err := os.Stat(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%s: no such file", path)
			}
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if st.IsDir() && !isHFDir(path) {
			if _, err := os.Stat(filepath.Join(path, "dataset_dict.json")); err == nil {
				return nil, fmt.Errorf("%s is a DatasetDict folder: point path at one of its splits, e.g. %s", path, filepath.Join(path, "train"))
			}
			return nil, fmt.Errorf("%s is a folder without state.json (not a save_to_disk folder): use a glob such as %s", path, filepath.Join(path, "*.jsonl"))
		}
		names = []string{path}
	}
	var out []srcFile
	for _, n := range names {
		if isHFDir(n) {
			if format != FormatAuto && format != FormatHF && format != FormatArrow {
				return nil, fmt.Errorf("%s is a save_to_disk folder, but format is %s", n, format)
			}
			fs, err := hfFiles(n)
			if err != nil {
				return nil, err
			}
			out = append(out, fs...)
			continue
		}
		f := format
		switch f {
		case FormatAuto:
			f = formatOf(n)
			if f == "" {
				return nil, fmt.Errorf("%s: cannot tell the format from the extension (use .jsonl, .parquet, .csv, .tsv or .arrow, or set format:)", n)
			}
		case FormatHF:
			return nil, fmt.Errorf("%s is not a save_to_disk folder (no state.json)", n)
		}
		out = append(out, srcFile{path: n, format: f})
	}
	for _, f := range out[1:] {
		if f.format != out[0].format {
			return nil, fmt.Errorf("%s is %s but %s is %s: all files of one load must have the same format", f.path, f.format, out[0].path, out[0].format)
		}
	}
	return out, nil
}

func isHFDir(p string) bool {
	st, err := os.Stat(filepath.Join(p, "state.json"))
	return err == nil && !st.IsDir()
}

// hfFiles lists the Arrow stream files of a save_to_disk folder, in the
// order state.json gives.
func hfFiles(dir string) ([]srcFile, error) {
	name := filepath.Join(dir, "state.json")
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	var st hfState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(st.DataFiles) == 0 {
		return nil, fmt.Errorf("%s lists no _data_files", name)
	}
	var out []srcFile
	for _, d := range st.DataFiles {
		if d.Filename == "" || filepath.IsAbs(d.Filename) || strings.Contains(d.Filename, "..") {
			return nil, fmt.Errorf("%s: bad data file name %q", name, d.Filename)
		}
		p := filepath.Join(dir, d.Filename)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s lists %s: %w", name, d.Filename, err)
		}
		out = append(out, srcFile{path: p, format: FormatArrow})
	}
	return out, nil
}

// fingerprint hashes the names, sizes and contents of the files path
// resolves to (and of state.json for save_to_disk folders). The content
// hash is a fast 64-bit hash (xxh3) of each file's bytes, cached by device,
// inode, size, modification time and change time (see contentHash): an
// unchanged file is not read again, and a file rewritten with the same size
// and modification time (cp -p, rsync -a, tar x) is noticed, since those
// cannot set its change time back. Touching a file without changing it
// leaves the fingerprint as it was.
func fingerprint(path, format string) (string, error) {
	files, err := resolveFiles(path, format)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	seen := map[string]bool{}
	add := func(p string) error {
		size, sum, err := contentHash(p)
		if err != nil {
			return fmt.Errorf("fingerprinting %s: %w", p, err)
		}
		fmt.Fprintf(h, "%s\t%d\t%016x\n", p, size, sum)
		return nil
	}
	for _, f := range files {
		if d := filepath.Dir(f.path); !seen[d] && isHFDir(d) {
			seen[d] = true
			if err := add(filepath.Join(d, "state.json")); err != nil {
				return "", err
			}
		}
		if err := add(f.path); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// openText opens a line-oriented file, decompressing .gz and .zst.
func openText(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	lower := strings.ToLower(path)
	switch {
	case strings.HasSuffix(lower, ".gz"):
		zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return &stackCloser{Reader: zr, close: []func() error{zr.Close, f.Close}}, nil
	case strings.HasSuffix(lower, ".zst"):
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return &stackCloser{Reader: zr, close: []func() error{func() error { zr.Close(); return nil }, f.Close}}, nil
	}
	return f, nil
}

type stackCloser struct {
	io.Reader
	close []func() error
}

func (s *stackCloser) Close() error {
	var first error
	for _, c := range s.close {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
