#!/usr/bin/env bash
# Re-fetch the vendored Chart.js from the npm registry (never a CDN) and check its integrity.
# The reports' charts use crm/static/vendor/chartjs/chart.umd.min.js; bump VERSION and
# INTEGRITY together (from https://registry.npmjs.org/chart.js/<version>).
set -euo pipefail
VERSION=4.6.2
INTEGRITY=sha512-xachB+pPHjp0syJi7llUBA1w3kMYl6NF3o7eVrvjnWCT+IB2zMaF2pX5UYDiwbbfsioFEIRnAjreNOMsGj5TIA==
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -sfL "https://registry.npmjs.org/chart.js/-/chart.js-${VERSION}.tgz" -o "$work/chart.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$work/chart.tgz" | base64 -w0)"
[ "$got" = "$INTEGRITY" ] || { echo "integrity mismatch: $got" >&2; exit 1; }
tar xzf "$work/chart.tgz" -C "$work"
mkdir -p crm/static/vendor/chartjs
cp "$work/package/dist/chart.umd.min.js" "$work/package/LICENSE.md" crm/static/vendor/chartjs/
echo "Chart.js ${VERSION} vendored into crm/static/vendor/chartjs/"
