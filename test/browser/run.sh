#!/usr/bin/env bash
# End-to-end test of examples/platform_server in headless Chromium (Debian's package), driven by
# playwright-core from npm. Installs what is missing, then runs dashboard.test.mjs.
#
#   test/browser/run.sh <platform_server binary>
#
# Exit: 0 passed, 1 failed, 77 skipped because Chromium, Node.js or playwright-core could not be
# installed (CTest reports it as skipped; BROWSER_TEST_REQUIRED=1 turns that into a failure).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
server=${1:?usage: run.sh <platform_server binary>}
[ -x "$server" ] || { echo "FAIL: $server is not an executable"; exit 1; }

skip() {
  echo "SKIP: $*"
  [ "${BROWSER_TEST_REQUIRED:-0}" = 1 ] && exit 1
  exit 77
}

# Only what is missing. Not `npm` when an npm command exists: NodeSource's nodejs ships its own,
# and Debian's npm package would fight it.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node > /dev/null || missing+=(nodejs)
command -v npm > /dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "browser test: installing ${missing[*]}"
  "$root/scripts/install-deps.sh" "${missing[@]}" || skip "could not install ${missing[*]} (needs root or sudo and a Debian mirror)"
fi

# playwright-core only drives a browser; it downloads none (Debian's Chromium is used). Newer
# releases need Node.js 20; Debian 12's own nodejs is 18, which the 1.48 line still supports.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -ge 20 ]; then default_playwright=1.65.1; else default_playwright=1.48.2; fi
playwright_version=${PLAYWRIGHT_VERSION:-$default_playwright}
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
  echo "browser test: npm install playwright-core@$playwright_version into test/browser/node_modules"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$here" --no-save --no-package-lock \
    --no-audit --no-fund --loglevel=error "playwright-core@$playwright_version" ||
    skip "could not install playwright-core from the npm registry"
fi

exec node "$here/dashboard.test.mjs" "$server"
