package packaging

import (
	"fmt"
	"net"
	"os"
)

// NotifyReady tells systemd (Type=notify) that the daemon is up: units that
// wait for credpool start only now, and `systemctl start` returns. It does
// nothing when NOTIFY_SOCKET is unset (not started by systemd).
func NotifyReady() error { return sdNotify("READY=1") }

// NotifyStopping tells systemd that the daemon is shutting down on purpose.
func NotifyStopping() error { return sdNotify("STOPPING=1") }

// sdNotify implements the sd_notify datagram protocol: one datagram with
// newline-separated assignments to the socket named by $NOTIFY_SOCKET, a
// path or, with a leading '@', a Linux abstract socket (Go's net package
// maps the '@' to the leading NUL byte itself).
func sdNotify(state string) error {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return nil
	}
	if name[0] != '/' && name[0] != '@' {
		return fmt.Errorf("packaging: sd_notify: NOTIFY_SOCKET %q is neither a path nor an abstract name", name)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("packaging: sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("packaging: sd_notify %s: %w", state, err)
	}
	return nil
}
