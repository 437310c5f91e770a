// Package socketapi is credpool's HTTP/1.1 + JSON API on a per-user Unix
// socket (DESIGN §4): the server, the peer-credential check that keeps other
// users out, the wire types, Prometheus metrics and a typed Go client.
//
// It knows nothing of files or of the daemon's runtime: it serves a Backend,
// which the daemon implements, and speaks pool's types on the wire. Tokens pass
// through it only inside a select or report answer and an add request; they
// never reach a log line, an error message or a metric label.
package socketapi
