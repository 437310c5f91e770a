//go:build !linux

package main

import "errors"

// peerPID is Linux-only: daemon stats come from /proc.
func peerPID(string) (int, error) {
	return 0, errors.New("peer pid: only on Linux")
}
