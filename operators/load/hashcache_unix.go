//go:build linux || darwin || freebsd || netbsd || openbsd

package load

import (
	"os"
	"syscall"
)

// statKey returns a file's identity and times; false when the platform
// does not give them (the hash is then never cached).
func statKey(st os.FileInfo) (fileKey, bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	cs, cn := ctime(sys)
	return fileKey{dev: uint64(sys.Dev), ino: uint64(sys.Ino), size: st.Size(),
		mtimeNs: st.ModTime().UnixNano(), ctimeNs: cs*1e9 + cn}, true
}
