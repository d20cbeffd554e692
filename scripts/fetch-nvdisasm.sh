#!/usr/bin/env bash
# An nvdisasm for scripts/check-sass-schedule.sh where CUDA's own is missing (the nvcc-only
# toolkit here and in CI): Debian's nvidia-cuda-toolkit (non-free, 84 MB) downloaded with apt's
# own lists kept under .cache/ (the system's sources and state untouched) and unpacked there.
# Prints the path; prints nothing and exits 0 when it cannot (no network, not Debian): the check
# then says it did not run.
set -uo pipefail
cd "$(dirname "$0")/.."
cache=$PWD/.cache/nvdisasm
tool=$cache/nvdisasm
if [ ! -x "$tool" ]; then
  command -v apt-get > /dev/null && command -v dpkg > /dev/null || exit 0
  codename=$(. /etc/os-release 2> /dev/null && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || exit 0
  mkdir -p "$cache/lists/partial"
  echo "deb http://deb.debian.org/debian $codename non-free" > "$cache/sources.list"
  apt_options=(-qq -o "Dir::Etc::sourcelist=$cache/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$cache/lists")
  (cd "$cache" && apt-get "${apt_options[@]}" update && apt-get "${apt_options[@]}" download nvidia-cuda-toolkit) > "$cache/fetch.log" 2>&1 &&
    dpkg -x "$cache"/nvidia-cuda-toolkit_*.deb "$cache/root" >> "$cache/fetch.log" 2>&1 || exit 0
  mv "$cache/root/usr/bin/nvdisasm" "$tool" 2> /dev/null
  rm -rf "$cache/root" "$cache"/nvidia-cuda-toolkit_*.deb
  [ -x "$tool" ] || exit 0
fi
echo "$tool"
