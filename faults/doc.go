// Package faults holds credpool's crash, concurrency and fault tests. They
// run the real credpool binary (internal/daemontest) against real files,
// real flocks and real writer processes: Python scripts in testdata/ that
// write auth.json the way Hermes (flock, temp file, rename) and the Codex CLI
// (truncate and write in place, no lock) do. The package has no code of its
// own; only its tests matter.
//
// Knobs, for longer runs than CI's:
//
//	FAULTS_SOAK_SECONDS       how long the four concurrent writers run (default 8;
//	                          the soak length is 30)
//	FAULTS_LOCK_HOLD_SECONDS  how long another process holds auth.lock (default 4;
//	                          the scenario is 20, past the daemon's 15 s
//	                          lock timeout, so its write fails once and is retried)
//	FAULTS_KILLS              kill -9 cycles (default 50)
package faults
