#!/usr/bin/env bash
# Refreshes the vendored OpenSeadragon in serve/web/ from the npm registry: `npm pack` of one
# pinned version, its tarball checked against the sha1 the registry published for it, and only
# the minified script and the licence copied. Run by hand when upgrading (edit VERSION and SHA1);
# the build and `deepslide serve` never touch the network, they embed what is committed.
set -euo pipefail
VERSION=6.1.1
SHA1=fcdb1a106b4e2440ed4336b5eff4a79c0a3390e6
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "openseadragon@$VERSION" >/dev/null)
tgz="$tmp/openseadragon-$VERSION.tgz"
got=$(sha1sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$SHA1" ]; then
  echo "vendor_openseadragon: $tgz has sha1 $got, the registry published $SHA1" >&2
  exit 2
fi
tar -xzf "$tgz" -C "$tmp"
cp "$tmp/package/build/openseadragon/openseadragon.min.js" "$here/serve/web/openseadragon.min.js"
cp "$tmp/package/LICENSE.txt" "$here/serve/web/openseadragon-LICENSE.txt"
echo "vendor_openseadragon: openseadragon $VERSION copied into serve/web/"
