#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Runs the element's harness tests under valgrind and fails on any
# definitely or indirectly lost block. (The dynamic loader's own reads,
# reported when ONNX Runtime is dlopen()ed, are not leaks and not ours.)
#   scripts/leak-check.sh [test-target …]     default: element reliability call_center
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "install valgrind (apt-get install valgrind)"; exit 1; }
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(element call_center)
status=0
for t in "${targets[@]}"; do
    bin=$(cargo test --test "$t" --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])' | tail -n 1)
    log="target/valgrind-$t.log"
    # The buzz tests play some 200 short streams through the same path as
    # the other tests; under valgrind they would take most of the run.
    # No model kept loaded between streams, so the sessions are torn down
    # within the run and a leak there shows.
    EMOTIONDETECT_KEEP_MODELS=0 valgrind --leak-check=full --show-leak-kinds=definite,indirect --num-callers=30 \
        "$bin" --test-threads=1 --skip buzz >"$log" 2>&1 || true
    grep -E "test result|definitely lost|indirectly lost|possibly lost" "$log" | sed "s/^/$t: /"
    grep -q "definitely lost: 0 bytes" "$log" && grep -q "indirectly lost: 0 bytes" "$log" || status=1
    grep -q "test result: ok" "$log" || status=1
done
exit $status
