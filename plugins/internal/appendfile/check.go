package appendfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// CheckWritable says, without changing anything, why Open could not open
// path: a directory, or a file or directory this process may not write (a
// permission, a read-only file system). Nil does not promise that Open succeeds (the file system may
// change in between); it lets a constructor, and so `flowctl validate`,
// report the usual mistakes before anything runs.
func CheckWritable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("%s is a directory", path)
	case err == nil:
		if err := access(path, w); err != nil {
			return fmt.Errorf("cannot write %s: %w", path, err)
		}
		return nil
	case !missing(err):
		return err
	}
	for dir := filepath.Dir(path); ; {
		fi, err := os.Stat(dir)
		switch {
		case err == nil && !fi.IsDir():
			// Open fails with the system's own words (ENOTDIR), which
			// callers already show; it is permanent there.
			return nil
		case err == nil:
			if err := access(dir, w|x); err != nil {
				return fmt.Errorf("cannot create %s in %s: %w", path, dir, err)
			}
			return nil
		case !missing(err):
			return err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// missing is a path that does not exist, also because one of its parents
// is a file.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Permanent reports whether err, from Open, is one that trying again
// cannot cure: a permission, a read-only file system, a parent that is a
// file, a path that is a directory.
func Permanent(err error) bool {
	for _, e := range []error{fs.ErrPermission, syscall.EROFS, syscall.ENOTDIR, syscall.EISDIR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
