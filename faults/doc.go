// Package faults holds credpool's crash, concurrency and fault tests. They
// run the real credpool binary (internal/daemontest) against real files,
// real flocks and real writer processes: Python scripts in testdata/ that
// write auth.json the way Hermes (flock, temp file, rename) and the Codex CLI
// (truncate and write in place, no lock) do. The package has no code of its
// own; only its tests matter. Every fake token holds daemontest.SecretMark,
// and no daemon's stderr, persist_error or health last_error may show one.
//
// Knobs (go test -short uses the short values):
//
//	FAULTS_SOAK_SECONDS       how long the four concurrent writers run
//	                          (default 30, the soak; short 8)
//	FAULTS_LOCK_HOLD_SECONDS  how long another process holds auth.lock in
//	                          TestLockHeldLong (default: 1 s past the
//	                          daemon's 2 s answer timeout, so that a report
//	                          is answered "persisted": false while it is
//	                          held; more than 2)
//	FAULTS_KILLS              kill -9 cycles (default 50)
package faults
