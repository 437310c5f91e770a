package socketapi

import "errors"

// ErrDaemonNotRunning is returned by the client when nothing listens on the
// socket (it does not exist, or the connection is refused) even after the dial
// retries.
var ErrDaemonNotRunning = errors.New("credpool daemon is not running")
