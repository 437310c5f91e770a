#!/bin/sh
# Builds dist/credpool, its systemd units and man page, and the .deb and .rpm
# (with nfpm, a Go tool pinned in packaging/tools/go.mod).
#
#   packaging/build-packages.sh            # from anywhere in the repository
#   CREDPOOL_VERSION=1.2.3 GOARCH=arm64 packaging/build-packages.sh
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dist=$root/dist

version=${CREDPOOL_VERSION:-$(git describe --tags --match 'v[0-9]*' 2>/dev/null | sed 's/^v//' || true)}
version=${version:-0.0.0}
arch=${GOARCH:-$(go env GOARCH)}
export CREDPOOL_VERSION="$version" CREDPOOL_ARCH="$arch"

if [ ! -f README.md ]; then
	echo "build-packages: README.md is missing; the package ships it" >&2
	exit 1
fi

rm -rf "$dist"
mkdir -p "$dist"

echo "build-packages: credpool $version for linux/$arch"
CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath \
	-ldflags "-s -w -X github.com/credpool/credpool/cli.Version=$version" -o "$dist/credpool" ./cmd/credpool

go run ./packaging/internal/render -out "$dist" -binary /usr/bin/credpool

# The man page comes from the CLI's own help (credpool man). Run the host's
# build of it, which also works when cross-building for another GOARCH.
go build -o "$dist/.credpool-host" ./cmd/credpool
"$dist/.credpool-host" man > "$dist/credpool.1"
rm -f "$dist/.credpool-host"
gzip -9n -f "$dist/credpool.1"

for packager in deb rpm; do
	go tool -modfile=packaging/tools/go.mod nfpm package \
		-f packaging/nfpm.yaml -p "$packager" -t "$dist/"
done
ls -l "$dist"
