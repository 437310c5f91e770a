// Package e2e holds credpool's end-to-end and socket-security tests. They run
// the real credpool binary (built by internal/daemontest) on a temp auth.json
// and socket, drive it through its HTTP API, its command line and a Python
// writer that changes auth.json the way Hermes does, and check what a user
// would see: the file on disk, the answers, the events and the daemon's log.
//
// Every fixture carries distinctive fake secrets ("sk-SECRET-…" access
// tokens, "rt-SECRET-…" refresh tokens), and every test checks that none of
// them reached the daemon's stderr; TestSecretsNeverLeak also checks every
// answer, event and the metrics. The package has no non-test code.
package e2e
