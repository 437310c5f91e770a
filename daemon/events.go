package daemon

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/credpool/credpool/apitype"
)

// followerBuffer is how many events a follower may lag behind before events
// are dropped for it: the daemon never waits for a follower.
const followerBuffer = 256

// hub fans events out to any number of followers.
type hub struct {
	mu        sync.Mutex
	followers map[chan apitype.Event]struct{}
	dropped   atomic.Uint64
}

func newHub() *hub {
	return &hub{followers: make(map[chan apitype.Event]struct{})}
}

// subscribe returns a channel that receives events until ctx ends.
func (h *hub) subscribe(ctx context.Context) <-chan apitype.Event {
	ch := make(chan apitype.Event, followerBuffer)
	h.mu.Lock()
	h.followers[ch] = struct{}{}
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		delete(h.followers, ch)
		h.mu.Unlock()
		close(ch)
	}()
	return ch
}

func (h *hub) publish(ev apitype.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.followers {
		select {
		case ch <- ev:
		default:
			h.dropped.Add(1)
		}
	}
}
