package main

import (
	"fmt"
	"path/filepath"
	"sync/atomic"

	"github.com/fsnotify/fsnotify"
)

// writeCounter counts replacements of auth.json (a rename onto it or a
// create, which is what an atomic writer does) and in-place writes, from an
// inotify watch on its directory.
type writeCounter struct {
	w        *fsnotify.Watcher
	replaced atomic.Int64
	inPlace  atomic.Int64
	done     chan struct{}
}

func watchWrites(authFile string) (*writeCounter, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("write counter: %w", err)
	}
	if err := w.Add(filepath.Dir(authFile)); err != nil {
		w.Close()
		return nil, fmt.Errorf("write counter: %w", err)
	}
	c := &writeCounter{w: w, done: make(chan struct{})}
	name := filepath.Base(authFile)
	go func() {
		defer close(c.done)
		for {
			select {
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if filepath.Base(ev.Name) != name {
					continue
				}
				switch {
				case ev.Has(fsnotify.Create):
					c.replaced.Add(1)
				case ev.Has(fsnotify.Write):
					c.inPlace.Add(1)
				}
			case _, ok := <-w.Errors:
				if !ok {
					return
				}
			}
		}
	}()
	return c, nil
}

// count is replacements plus in-place writes so far.
func (c *writeCounter) count() int64 { return c.replaced.Load() + c.inPlace.Load() }

func (c *writeCounter) close() {
	c.w.Close()
	<-c.done
}

// writesResult is the "writes" member of the output.
type writesResult struct {
	Count   int64   `json:"count"`
	WindowS float64 `json:"window_s"`
	PerS    float64 `json:"per_s"`
	Note    string  `json:"note,omitempty"`
}
