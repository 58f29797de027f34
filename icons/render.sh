#!/usr/bin/env bash
# Renders every icon from icons/source.svg (Debian: librsvg2-bin, imagemagick, icnsutils).
# Run from anywhere; commit the outputs. The tray icons are the same picture: normal, and
# grey at half opacity for "no model is up". 256x256.png is what the Linux bundles install
# (Tauri puts 128x128@2x.png in a `256x256@2` folder that icon themes ignore).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
svg=source.svg
render() { rsvg-convert -w "$1" -h "$1" "$svg" -o "$2"; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
render 32 32x32.png
render 128 128x128.png
render 256 128x128@2x.png
render 256 256x256.png
render 512 icon.png
for size in 16 24 48 64 256; do render "$size" "$tmp/$size.png"; done
convert "$tmp/16.png" "$tmp/24.png" 32x32.png "$tmp/48.png" "$tmp/64.png" "$tmp/256.png" icon.ico
png2icns icon.icns "$tmp/16.png" 32x32.png 128x128.png "$tmp/256.png" icon.png >/dev/null
render 64 tray.png
convert tray.png -colorspace Gray -channel A -evaluate multiply 0.45 +channel \
  -define png:color-type=6 -define png:exclude-chunks=date,time tray-dimmed.png
