package daemon

import (
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// watch watches the auth directory (editors and atomic writers replace the
// file's inode, so a watch on the file would go stale) and its parent, to
// notice the directory itself being re-created.
func (l *ioLoop) watch(w *fsnotify.Watcher) {
	_ = w.Add(filepath.Dir(l.dir))
	if err := w.Add(l.dir); err != nil {
		l.watching = false
		return
	}
	l.watching = true
}

// concerns reports whether a file event is about auth.json or its
// directory, and follows the directory going and coming back. Everything
// else (the parent is often ~, where a shell writes all day; auth.lock;
// temp files) is not our business and costs nothing more.
func (l *ioLoop) concerns(w *fsnotify.Watcher, ev fsnotify.Event) bool {
	switch {
	case ev.Name == l.path:
		return true
	case ev.Name == l.dir && ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0:
		l.watching = false
		return true
	case ev.Name == l.dir && ev.Op&fsnotify.Create != 0:
		l.watch(w)
		return true
	}
	return false
}
