package gateway

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/credpool/credpool/internal/loopback"
)

// ErrNotLoopback is wrapped by ValidateAddr's refusals.
var ErrNotLoopback = errors.New("not a loopback address")

// ValidateAddr accepts a listen address on loopback only: 127.0.0.0/8, ::1
// or localhost, with a port. Anything else (0.0.0.0, ::, a LAN address,
// another host name, no host at all) would put the pool's keys in reach of
// the network, and is refused.
func ValidateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: want host:port, e.g. %s", addr, DefaultAddr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("listen address %q: port must be a number 0-65535", addr)
	}
	if !loopback.Is(host) {
		return fmt.Errorf("listen address %q: %w: the gateway listens only on 127.0.0.1, [::1] or localhost, "+
			"because anyone who reaches it spends the pool", addr, ErrNotLoopback)
	}
	return nil
}

// hostOf is the host part of a Host header, with or without a port.
func hostOf(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}
