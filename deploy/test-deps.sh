#!/usr/bin/env bash
# Installs what the test suite needs beyond Go and the services that deploy/services.sh starts:
#   - the chdb engine from PyPI (checks our ClickHouse SQL against a current ClickHouse);
#   - the official openai package from PyPI (a client of the gateway in its end-to-end test);
#   - Chromium from Debian (the dashboard test renders the page in headless Chromium).
# Idempotent: what is already there is only reported.
set -euo pipefail

# APT_TIMEOUT bounds the Chromium download and install (seconds).
APT_TIMEOUT=${APT_TIMEOUT:-900}

# install_py MODULE SPEC installs SPEC from PyPI unless MODULE imports already.
install_py() {
	local py=${PYTHON:-python3} module=$1 spec=$2
	if ! command -v "$py" >/dev/null 2>&1; then
		echo "test-deps: $py not found; install Python 3 (apt-get install -y python3 python3-pip)" >&2
		return 1
	fi
	if "$py" -c "import $module" 2>/dev/null; then
		echo "test-deps: $module $("$py" -c "import $module; print($module.__version__)") present"
		return 0
	fi
	echo "test-deps: installing $spec from PyPI ..."
	if ! "$py" -m pip install --quiet "$spec" 2>/tmp/test-deps-pip.log; then
		# Debian's system Python refuses user installs without this flag (PEP 668).
		if grep -q externally-managed /tmp/test-deps-pip.log; then
			"$py" -m pip install --quiet --break-system-packages "$spec"
		else
			cat /tmp/test-deps-pip.log >&2
			return 1
		fi
	fi
	echo "test-deps: $module $("$py" -c "import $module; print($module.__version__)") installed"
}

# chromium_bin prints the first Chromium binary on PATH (the names the dashboard test looks for).
chromium_bin() {
	command -v chromium || command -v chromium-headless-shell || return 1
}

install_chromium() {
	local bin log=/tmp/test-deps-apt.log
	if bin=$(chromium_bin); then
		echo "test-deps: chromium present ($bin)"
		return 0
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "test-deps: chromium not found and no apt-get here; install Chromium (the dashboard test runs it headless)" >&2
		return 1
	fi
	if [[ $(id -u) -ne 0 ]]; then
		echo "test-deps: chromium not found; run as root or: sudo apt-get install -y --no-install-recommends chromium" >&2
		return 1
	fi
	echo "test-deps: installing chromium from Debian (apt-get, up to ${APT_TIMEOUT}s) ..."
	local start=$SECONDS
	# The package lists may be stale or absent on a fresh machine: refresh them once, then install.
	if ! { timeout "$APT_TIMEOUT" apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive timeout "$APT_TIMEOUT" \
			apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		echo "test-deps: installing chromium failed or timed out after $((SECONDS - start))s (log: $log)" >&2
		return 1
	fi
	if ! bin=$(chromium_bin); then
		echo "test-deps: apt-get installed chromium but no chromium binary is on PATH (log: $log)" >&2
		return 1
	fi
	echo "test-deps: chromium installed in $((SECONDS - start))s ($("$bin" --version 2>/dev/null || echo "$bin"))"
}

install_py chdb chdb
install_py openai openai==3.51.0
install_chromium
