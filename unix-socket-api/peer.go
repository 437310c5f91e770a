package socketapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
)

// peerListener hands out only connections whose peer uid allow admits;
// others are closed before a byte is read, and Accept goes on to the next.
type peerListener struct {
	net.Listener
	allow func(uid int) bool
	log   *slog.Logger
}

// peerListener returns l checked with the server's AllowUID. A listener from
// Listen is re-wrapped rather than checked twice.
func (s *Server) peerListener(l net.Listener) net.Listener {
	if pl, ok := l.(*peerListener); ok {
		l = pl.Listener
	}
	return &peerListener{Listener: l, allow: s.opts.AllowUID, log: s.log}
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uid, err := connPeerUID(c)
		if err == nil && l.allow(uid) {
			return c, nil
		}
		_ = c.Close()
		if l.log != nil {
			if err != nil {
				l.log.Warn("socketapi: refused a connection whose peer could not be identified", "err", err)
			} else {
				l.log.Warn("socketapi: refused a connection from another user", "uid", uid)
			}
		}
	}
}

// connPeerUID reads the uid of the process at the other end of c.
func connPeerUID(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, errNotUnix
	}
	if _, ok := c.(*net.UnixConn); !ok {
		return 0, errNotUnix
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("peer credentials: %w", err)
	}
	var uid int
	var credErr error
	if err := raw.Control(func(fd uintptr) { uid, credErr = peerUID(int(fd)) }); err != nil {
		return 0, fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return 0, fmt.Errorf("peer credentials: %w", credErr)
	}
	return uid, nil
}

// errNotUnix is why a connection that is not a Unix socket is refused: its
// peer cannot be known.
var errNotUnix = errors.New("not a Unix socket connection")
