// Package packaging installs and controls credpool as an operating-system
// service (systemd --user or system units on Linux, a LaunchAgent or
// LaunchDaemon on macOS), renders the unit files, plist and man page that the
// .deb and .rpm ship, and speaks the sd_notify protocol.
//
// It knows nothing of the daemon itself: main hands it the function to run,
// the paths the service must agree on with the CLI, and a probe that tells
// whether the socket answers.
package packaging
