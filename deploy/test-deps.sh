#!/usr/bin/env bash
# Installs what the test suite needs beyond Go and the services that deploy/services.sh starts:
# the chdb engine from PyPI (checks our ClickHouse SQL against a current ClickHouse).
set -euo pipefail
py=${PYTHON:-python3}
if ! command -v "$py" >/dev/null 2>&1; then
	echo "test-deps: $py not found; install Python 3 (apt-get install -y python3 python3-pip)" >&2
	exit 1
fi
if "$py" -c 'import chdb' 2>/dev/null; then
	echo "test-deps: chdb $("$py" -c 'import chdb; print(chdb.__version__)') present"
	exit 0
fi
echo "test-deps: installing chdb from PyPI ..."
if ! "$py" -m pip install --quiet chdb 2>/tmp/test-deps-pip.log; then
	# Debian's system Python refuses user installs without this flag (PEP 668).
	if grep -q externally-managed /tmp/test-deps-pip.log; then
		"$py" -m pip install --quiet --break-system-packages chdb
	else
		cat /tmp/test-deps-pip.log >&2
		exit 1
	fi
fi
echo "test-deps: chdb $("$py" -c 'import chdb; print(chdb.__version__)') installed"
