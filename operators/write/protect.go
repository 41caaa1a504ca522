package write

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/caco-dev/caco/engine/checkpoint"
	"github.com/caco-dev/caco/engine/op"
)

// FieldOverwrite lets a writer replace a file its run folder did not write.
const FieldOverwrite = "overwrite"

var overwriteField = op.Field{Name: FieldOverwrite, Kind: op.Bool, Default: false,
	Doc: "Replace path even when it is a file that this run folder did not write (a file from elsewhere, or " +
		"one written before --fresh, or changed since). Without it such a run fails before it starts. " +
		"Files inside ${run_dir}, and files this run folder wrote and nobody changed since, are always replaced."}

// protect refuses, before any work, to replace a file that is not the run
// folder's own: outside the run folder, not recorded as written by it (or
// changed since), and overwrite not set.
func (c *Config) protect(rc op.RunContext) error {
	c.runDir = rc.RunDir()
	if c.Overwrite || c.runDir == "" || inside(c.runDir, c.Path) {
		return nil
	}
	st, err := os.Stat(c.Path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // nothing to replace (creating it reports any problem)
	}
	if err != nil {
		return fmt.Errorf("checking %s before replacing it: %w", c.Path, err)
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a folder; write needs a file path", c.Path)
	}
	owned, err := checkpoint.OutputOwned(c.runDir, c.Path)
	if err != nil {
		return fmt.Errorf("checking %s before replacing it: %w", c.Path, err)
	}
	if !owned {
		return fmt.Errorf("refusing to replace %s: this run folder did not write it (or it changed since); "+
			"set `overwrite: true` on the step to replace it, or write elsewhere", c.Path)
	}
	return nil
}

// recordOutput notes the committed file and its content hash in the run
// folder, so the next run of the same folder may replace it.
func (c *Config) recordOutput() error {
	if c.runDir == "" || inside(c.runDir, c.Path) || c.w == nil || c.w.sum == nil {
		return nil
	}
	return checkpoint.RecordOutput(c.runDir, c.Path, hex.EncodeToString(c.w.sum.Sum(nil)))
}

// inside reports whether path is in folder dir (lexically, and with
// symlinks followed where they exist).
func inside(dir, path string) bool {
	for _, pair := range [][2]string{{dir, path}, {realPath(dir), realPath(path)}} {
		d, p := filepath.Clean(pair[0]), filepath.Clean(pair[1])
		if p == d || strings.HasPrefix(p, d+string(os.PathSeparator)) {
			return true
		}
	}
	return false
}

func realPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	if r, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(r, filepath.Base(abs))
	}
	return abs
}

// createTemp creates a new file named prefix+random in dir with the mode
// 0666 less the umask, like any file a program creates (os.CreateTemp
// makes 0600, and the rename would keep that for the output).
func createTemp(dir, prefix string) (*os.File, error) {
	var b [8]byte
	for i := 0; i < 100; i++ {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		name := filepath.Join(dir, prefix+hex.EncodeToString(b[:]))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("creating a temporary file in %s: too many name clashes", dir)
}
