// Command credpool is the credential pool daemon and its command line.
// Everything lives in package cli; main only hands it the process.
package main

import (
	"os"

	"github.com/credpool/credpool/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv,
	}))
}
