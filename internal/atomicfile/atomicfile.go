// Package atomicfile replaces a file so that a reader sees the old content
// or the new, never a mix, and a crash leaves one of the two: a temp file in
// the same directory, 0600 from its creation, written, fsynced, renamed over
// the target, and the directory fsynced. A symlink at the target is
// replaced by the file, not written through: callers that follow a chosen
// symlink resolve it first.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFile replaces path with data.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	_, err := Write(path, perm, func(w io.Writer) (bool, error) {
		_, err := w.Write(data)
		return true, err
	})
	return err
}

// Write replaces path with what render writes. When render returns false
// (nothing to change) or an error (returned as it is), the temp file is
// removed and path left alone; Write reports whether it replaced path.
func Write(path string, perm os.FileMode, render func(io.Writer) (bool, error)) (written bool, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("atomicfile: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return false, fmt.Errorf("atomicfile: %w", err)
	}
	bw := bufio.NewWriterSize(tmp, 64<<10)
	keep, err := render(bw)
	if err != nil || !keep {
		return false, err
	}
	if err := bw.Flush(); err != nil {
		return false, fmt.Errorf("atomicfile: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return false, fmt.Errorf("atomicfile: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("atomicfile: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return false, fmt.Errorf("atomicfile: %w", err)
	}
	committed = true
	if err := SyncDir(dir); err != nil {
		return true, fmt.Errorf("atomicfile: sync directory: %w", err)
	}
	return true, nil
}

// SyncDir fsyncs a directory, so that a rename in it survives a crash.
// File systems that cannot (EINVAL, ENOTSUP) are not an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return err
	}
	return nil
}
