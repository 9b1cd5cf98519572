#!/usr/bin/env bash
# Prints the path of an arm64 (aarch64, glibc) Deno of the project's version, fetching it once from
# the npm registry (@deno/linux-arm64-glibc, checked against its pinned integrity) into
# .cache/arm64/ (gitignored). With --check it also runs `deno --version` under qemu-user to prove
# the emulator and the arm64 C library work. Needs npm, tar, and for --check qemu-user-static and
# libc6-arm64-cross (listed in tests/debian-packages.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
version=2.9.6
integrity='sha512-poqhoH9B3nYloigEMPT5t8HY+wBeiuea1An5Q7fqgJzP0SYmWsoS/oUnWO/pEiA4ofzIBy1Elt/in58xKtxEoQ=='
dir=.cache/arm64/deno-$version
if [ ! -x "$dir/deno" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  npm pack --silent --pack-destination "$tmp" "@deno/linux-arm64-glibc@$version" >/dev/null
  tgz=("$tmp"/*.tgz)
  got="sha512-$(openssl dgst -sha512 -binary "${tgz[0]}" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    echo "arm64-deno: @deno/linux-arm64-glibc@$version has integrity $got, expected $integrity" >&2
    exit 1
  fi
  tar -xzf "${tgz[0]}" -C "$tmp" package/deno
  mkdir -p "$dir"
  mv "$tmp/package/deno" "$dir/deno.part" && mv "$dir/deno.part" "$dir/deno"
fi
deno="$PWD/$dir/deno"
if [ "${1:-}" = --check ]; then
  out=$(qemu-aarch64-static -L /usr/aarch64-linux-gnu "$deno" --version | head -n 1)
  [[ "$out" == "deno $version"* ]] || {
    echo "arm64-deno: unexpected version output: $out" >&2
    exit 1
  }
fi
echo "$deno"
