#!/bin/sh
# Groups fuzz artifacts by where they fail: the first stack frame in gansim
# code (or "libhdf5 only") and the sanitizer's verdict.
# usage: tests/fuzz/triage.sh build-fuzz/fuzz/fuzz_NAME ARTIFACT...
bin=$1; shift
for f in "$@"; do
    out=$(ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 \
          LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp timeout 20 "$bin" "$f" 2>&1)
    kind=$(printf '%s\n' "$out" | grep -m1 -oE 'ERROR: [A-Za-z]+: [a-z-]+|runtime error: [a-z ]+|libFuzzer: (timeout|out-of-memory)[^)]*' )
    ours=$(printf '%s\n' "$out" | grep -E '^ +#[0-9]+ ' | grep -vE 'fuzz_[a-z0-9]+\.c|fuzzer::|libc|interceptor|_start' \
           | grep -m1 -oE '/(core|datasets|preprocess|models|metrics|nn)/[a-z_0-9]+\.c:[0-9]+')
    hdf=$(printf '%s\n' "$out" | grep -m1 -oE 'in H5[A-Za-z_0-9]+')
    echo "${kind:-no failure (fixed)} | ${ours:-libhdf5 only} | ${hdf:-} | $(basename "$f")"
done
