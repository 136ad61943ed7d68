#!/bin/sh
# Check getconf and getent against facts every Linux system shares.
#
#   sh tests/run.sh [DIR]
#
# DIR holds the programs (default: the directory above this script). One line
# per check: "ok", "FAIL" or "skip" and what was checked; the exit status is 1
# when any check failed. POSIX sh only: runs under busybox or coreutils+bash,
# and needs no /dev (output is captured, never sent to /dev/null).

set -f
case $0 in
*/*) here=${0%/*} ;;
*) here=. ;;
esac
dir=${1:-$here/..}
GETCONF=$dir/getconf
GETENT=$dir/getent
failed=0

ok() { printf 'ok   %s\n' "$1"; }
fail() { printf 'FAIL %s\n' "$1"; failed=1; }
skip() { printf 'skip %s\n' "$1"; }
verdict() { if [ "$1" -eq 0 ]; then ok "$2"; else fail "$2"; fi; }
is_number() { case $1 in '' | *[!0-9]*) return 1 ;; esac; }

# Whether FILE has a line whose first field is NAME (no grep: minimal roots).
has_entry() {
	while read -r first rest; do
		[ "$first" = "$1" ] && return 0
	done <"$2"
	return 1
}

for prog in "$GETCONF" "$GETENT"; do
	if [ ! -x "$prog" ]; then
		echo "FAIL $prog: not an executable (build first, or pass the directory)"
		exit 1
	fi
done

# ---- getconf ----

page=$("$GETCONF" PAGE_SIZE)
pagesize=$("$GETCONF" PAGESIZE)
is_number "$page" && [ "$page" = "$pagesize" ] && [ "$page" -gt 0 ] &&
	[ $((page & (page - 1))) -eq 0 ]
verdict $? "getconf PAGE_SIZE ($page) equals PAGESIZE ($pagesize) and is a power of two"

cpus=$("$GETCONF" _NPROCESSORS_ONLN)
is_number "$cpus" && [ "$cpus" -ge 1 ]
verdict $? "getconf _NPROCESSORS_ONLN ($cpus) is at least 1"

alias_cpus=$("$GETCONF" NPROCESSORS_ONLN)
[ "$alias_cpus" = "$cpus" ]
verdict $? "getconf NPROCESSORS_ONLN ($alias_cpus) is _NPROCESSORS_ONLN without its '_'"

long_bit=$("$GETCONF" LONG_BIT)
[ "$long_bit" = 32 ] || [ "$long_bit" = 64 ]
verdict $? "getconf LONG_BIT ($long_bit) is 32 or 64"

path=$("$GETCONF" PATH)
case ":$path:" in
*:/bin:* | *:/usr/bin:*) result=0 ;;
*) result=1 ;;
esac
verdict $result "getconf PATH ($path) contains /bin or /usr/bin"

name_max=$("$GETCONF" NAME_MAX /)
is_number "$name_max"
verdict $? "getconf NAME_MAX / ($name_max) is a number"

err=$("$GETCONF" NO_SUCH_VARIABLE_XYZ 2>&1)
status=$?
[ $status -eq 1 ] && [ -n "$err" ]
verdict $? "getconf NO_SUCH_VARIABLE_XYZ exits 1 ($status) with a message ($err)"

out=$("$GETCONF" 2>&1)
status=$?
[ $status -eq 2 ]
verdict $? "getconf without arguments exits 2 ($status)"

all=$("$GETCONF" -a)
case "$all" in
PAGE_SIZE\ * | *"
PAGE_SIZE "*) result=0 ;;
*) result=1 ;;
esac
verdict $result "getconf -a lists PAGE_SIZE"

# ---- getent ----

# The third field of a passwd or group line.
third_field() {
	rest=${1#*:}
	rest=${rest#*:}
	printf '%s\n' "${rest%%:*}"
}

line=$("$GETENT" passwd root)
status=$?
case $line in
root:*) [ $status -eq 0 ] && [ "$(third_field "$line")" = 0 ] ;;
*) false ;;
esac
verdict $? "getent passwd root ($line) has uid 0"

line=$("$GETENT" passwd 0)
[ "$(third_field "$line")" = 0 ]
verdict $? "getent passwd 0 ($line) has uid 0"

line=$("$GETENT" group 0)
case $line in
root:*) result=0 ;;
*) result=1 ;;
esac
verdict $result "getent group 0 ($line) is root"

out=$("$GETENT" passwd no-such-user-xyz)
status=$?
[ $status -eq 2 ] && [ -z "$out" ]
verdict $? "getent passwd no-such-user-xyz exits 2 ($status) and prints nothing"

out=$("$GETENT" passwd)
case "$out" in
root:* | *"
root:"*) result=0 ;;
*) result=1 ;;
esac
verdict $result "getent passwd enumerates a root entry"

if [ ! -r /etc/hosts ]; then
	skip "getent hosts localhost: no /etc/hosts (localhost would be left to DNS)"
else
	out=$("$GETENT" hosts localhost)
	loopback=
	while read -r addr names; do
		case $addr in
		127.* | ::1) loopback=$addr ;;
		esac
	done <<EOF
$out
EOF
	[ -n "$loopback" ]
	verdict $? "getent hosts localhost gives a loopback address ($loopback)"
fi

if [ ! -r /etc/services ]; then
	skip "getent services: no /etc/services"
elif ! has_entry ssh /etc/services; then
	skip "getent services: /etc/services has no ssh entry"
else
	set -- $("$GETENT" services ssh)
	name=${1-} port=${2-}
	case $port in
	*/tcp | */udp) [ "$name" = ssh ] ;;
	*) false ;;
	esac
	verdict $? "getent services ssh ($name $port)"
	set -- $("$GETENT" services "$port")
	[ "${1-}" = ssh ]
	verdict $? "getent services $port (${1-}) is ssh"
fi

if [ ! -r /etc/protocols ]; then
	skip "getent protocols: no /etc/protocols"
elif ! has_entry tcp /etc/protocols; then
	skip "getent protocols: /etc/protocols has no tcp entry"
else
	set -- $("$GETENT" protocols tcp)
	[ "${1-}" = tcp ] && [ "${2-}" = 6 ]
	verdict $? "getent protocols tcp (${1-} ${2-}) is number 6"
	set -- $("$GETENT" protocols 6)
	[ "${1-}" = tcp ]
	verdict $? "getent protocols 6 (${1-}) is tcp"
fi

err=$("$GETENT" nosuchdb 2>&1)
status=$?
[ $status -eq 1 ] && [ -n "$err" ]
verdict $? "getent nosuchdb exits 1 ($status) with a message"

out=$("$GETENT" 2>&1)
status=$?
[ $status -eq 1 ]
verdict $? "getent without arguments exits 1 ($status)"

out=$("$GETENT" ahosts 2>&1)
status=$?
[ $status -eq 3 ]
verdict $? "getent ahosts without keys exits 3 ($status): no enumeration"

exit $failed
