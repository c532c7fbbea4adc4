#!/bin/sh
# make-rootfs DIR BINARY: writes to DIR a root filesystem holding only BINARY, the shared
# libraries it links (and their dynamic loader), CA certificates and an unprivileged user
# `gatehouse` (10001). Runs in the Containerfile's `rootfs` stage; the final images copy
# DIR onto `scratch`, so they carry no shell, package manager or compiler.
set -eu
dir=$1
bin=$2
mkdir -p "$dir/usr/local/bin" "$dir/etc/ssl/certs" "$dir/etc/gatehouse" "$dir/var/lib/gatehouse" \
  "$dir/tmp" "$dir/proc" "$dir/dev" "$dir/sys" "$dir/run"
cp "$bin" "$dir/usr/local/bin/"
# `ldd` names every library the loader maps, and the loader itself; the binaries open
# no library later (xmlsec's OpenSSL backend is linked, not loaded).
if ldd "$bin" | grep 'not found'; then
  echo "make-rootfs: $bin needs libraries this base does not have (above): add their packages to the rootfs stage" >&2
  exit 1
fi
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
  while read -r lib; do
    cp -L --parents "$lib" "$dir"
  done
ldconfig -r "$dir" 2>/dev/null || true
cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\ngatehouse:x:10001:10001:Gatehouse:/var/lib/gatehouse:/usr/sbin/nologin\n' >"$dir/etc/passwd"
printf 'root:x:0:\ngatehouse:x:10001:\n' >"$dir/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$dir/etc/nsswitch.conf"
chown 10001:10001 "$dir/var/lib/gatehouse"
chmod 0700 "$dir/var/lib/gatehouse"
chmod 1777 "$dir/tmp"
