// Command render writes the systemd units that the .deb and .rpm ship, so
// that the packaged units come from the same templates (and golden tests) as
// `credpool service install`. It is run by packaging/build-packages.sh:
//
//	go run ./packaging/internal/render -out dist
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/credpool/credpool/packaging"
)

func main() {
	out := flag.String("out", "dist", "directory to write credpool.service and credpool@.service into")
	binary := flag.String("binary", packaging.PackagedBinary, "absolute path of the installed binary")
	flag.Parse()
	if err := run(*out, *binary); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(out, binary string) error {
	opts := packaging.Options{BinaryPath: binary}
	user, err := packaging.RenderUserUnit(opts)
	if err != nil {
		return err
	}
	system, err := packaging.RenderSystemTemplateUnit(opts)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for name, unit := range map[string][]byte{"credpool.service": user, "credpool@.service": system} {
		if err := os.WriteFile(filepath.Join(out, name), unit, 0o644); err != nil {
			return err
		}
	}
	return nil
}
