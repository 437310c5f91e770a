package main

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peerPID finds the pid of the process serving socket from SO_PEERCRED on a
// fresh connection.
func peerPID(socket string) (int, error) {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return 0, fmt.Errorf("peer pid: %w", err)
	}
	defer conn.Close()
	raw, err := conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("peer pid: %w", err)
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, fmt.Errorf("peer pid: %w", err)
	}
	if serr != nil {
		return 0, fmt.Errorf("peer pid: %w", serr)
	}
	return int(cred.Pid), nil
}
