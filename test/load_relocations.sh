#!/usr/bin/env bash
# A new backend that loads profenrich runs no CPU probe at load: the module has no GNU
# indirect function (an IFUNC symbol, as GCC's target_clones makes, resolved through an
# IRELATIVE relocation while the dynamic loader maps the library). Kernels compiled for
# several instruction sets pick their variant at the first call instead (linalg.h). The
# library checked is the one a backend mapped, read from its /proc/<pid>/maps. Prints TAP.
set -uo pipefail
db=profenrich_load_relocations
ok() {  # n, description, got, expected
  if [ "$3" = "$4" ]; then echo "ok $1 - $2"; else echo "not ok $1 - $2"; echo "# got: $3"; echo "# expected: $4"; fi
}
echo "1..3"
dropdb --if-exists "$db" && createdb "$db"
so=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "LOAD 'profenrich'" \
       -c "SELECT pg_catalog.pg_read_file('/proc/' || pg_catalog.pg_backend_pid() || '/maps')" |
     grep -o '/[^ ]*/profenrich\.so$' | head -n 1)
ok 1 "a backend maps profenrich.so after LOAD" "$(test -r "$so" && echo readable)" "readable"
# counted only in tables readelf read: a failed or empty listing is not a pass
count() {  # readelf option, the heading of its tables, pattern
  local out
  out=$(readelf "$1" -W "$so" 2>&1) && grep -q "$2" <<<"$out" ||
    { echo "readelf $1 failed or listed no table"; return; }
  grep -c "$3" <<<"$out"
}
ok 2 "profenrich.so defines no IFUNC symbol" "$(count -s '^Symbol table' ' IFUNC ')" "0"
ok 3 "profenrich.so has no IRELATIVE relocation" "$(count -r '^Relocation section' 'IRELATIV')" "0"
dropdb --if-exists "$db"
