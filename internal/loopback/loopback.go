// Package loopback is the one test of whether a host name stays on this
// machine. The gateway asks it of its listen address and of each request's
// Host header (against DNS rebinding); the refresher asks it before it
// sends a refresh token over plain http to a local fake or proxy. Were
// they two tests they could disagree on what "local" is.
package loopback

import (
	"net/netip"
	"strings"
)

// Is reports whether host (no port, no brackets) is localhost or a
// loopback IP: 127.0.0.0/8, ::1, or 127.x written as an IPv4-mapped IPv6
// address. An address with a zone (::1%eth0) is not: the zone names an
// interface, which a loopback address has no use for.
func Is(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}
