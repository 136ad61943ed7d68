/*
 * getconf - print system configuration values
 *
 *   getconf [-v SPEC] NAME          a sysconf(), confstr() or <limits.h> value
 *   getconf [-v SPEC] NAME PATH     a pathconf() value for PATH
 *   getconf -a [PATH]               every known name with its value
 *
 * musl ships no getconf; this is a clean-room implementation written for
 * serpent-bootstrap from the POSIX description of the utility. Linux only.
 *
 * A name the table knows but the system does not limit (sysconf, pathconf
 * and confstr report no value) prints "undefined" and exits 0, as POSIX says.
 * Exit status: 0 success, 1 unknown name or failing PATH, 2 usage error.
 */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum kind {
	SYSCONF,	/* id is a _SC_ number */
	CONFSTR,	/* id is a _CS_ number */
	PATHCONF,	/* id is a _PC_ number; needs a PATH operand */
	CONSTANT,	/* id is the (signed) value itself */
	UCONSTANT,	/* id is an unsigned value stored in a long; printed as unsigned long */
};

struct var {
	const char *name;
	enum kind kind;
	long id;
};

#define CONST(n) { #n, CONSTANT, (long)(n) }
#define UCONST(n) { #n, UCONSTANT, (long)(n) }

static const struct var vars[] = {
	/* Limits from sysconf(). */
	{ "AIO_LISTIO_MAX", SYSCONF, _SC_AIO_LISTIO_MAX },
	{ "AIO_MAX", SYSCONF, _SC_AIO_MAX },
	{ "AIO_PRIO_DELTA_MAX", SYSCONF, _SC_AIO_PRIO_DELTA_MAX },
	{ "ARG_MAX", SYSCONF, _SC_ARG_MAX },
	{ "ATEXIT_MAX", SYSCONF, _SC_ATEXIT_MAX },
	{ "BC_BASE_MAX", SYSCONF, _SC_BC_BASE_MAX },
	{ "BC_DIM_MAX", SYSCONF, _SC_BC_DIM_MAX },
	{ "BC_SCALE_MAX", SYSCONF, _SC_BC_SCALE_MAX },
	{ "BC_STRING_MAX", SYSCONF, _SC_BC_STRING_MAX },
	{ "CHILD_MAX", SYSCONF, _SC_CHILD_MAX },
	{ "CLK_TCK", SYSCONF, _SC_CLK_TCK },
	{ "COLL_WEIGHTS_MAX", SYSCONF, _SC_COLL_WEIGHTS_MAX },
	{ "DELAYTIMER_MAX", SYSCONF, _SC_DELAYTIMER_MAX },
	{ "EXPR_NEST_MAX", SYSCONF, _SC_EXPR_NEST_MAX },
	{ "GETGR_R_SIZE_MAX", SYSCONF, _SC_GETGR_R_SIZE_MAX },
	{ "GETPW_R_SIZE_MAX", SYSCONF, _SC_GETPW_R_SIZE_MAX },
	{ "HOST_NAME_MAX", SYSCONF, _SC_HOST_NAME_MAX },
	{ "IOV_MAX", SYSCONF, _SC_IOV_MAX },
	{ "LINE_MAX", SYSCONF, _SC_LINE_MAX },
	{ "LOGIN_NAME_MAX", SYSCONF, _SC_LOGIN_NAME_MAX },
	{ "MQ_OPEN_MAX", SYSCONF, _SC_MQ_OPEN_MAX },
	{ "MQ_PRIO_MAX", SYSCONF, _SC_MQ_PRIO_MAX },
	{ "NGROUPS_MAX", SYSCONF, _SC_NGROUPS_MAX },
	{ "NZERO", SYSCONF, _SC_NZERO },
	{ "OPEN_MAX", SYSCONF, _SC_OPEN_MAX },
	{ "PAGE_SIZE", SYSCONF, _SC_PAGE_SIZE },
	{ "PAGESIZE", SYSCONF, _SC_PAGESIZE },
	{ "PTHREAD_DESTRUCTOR_ITERATIONS", SYSCONF, _SC_THREAD_DESTRUCTOR_ITERATIONS },
	{ "PTHREAD_KEYS_MAX", SYSCONF, _SC_THREAD_KEYS_MAX },
	{ "PTHREAD_STACK_MIN", SYSCONF, _SC_THREAD_STACK_MIN },
	{ "PTHREAD_THREADS_MAX", SYSCONF, _SC_THREAD_THREADS_MAX },
	{ "RE_DUP_MAX", SYSCONF, _SC_RE_DUP_MAX },
	{ "RTSIG_MAX", SYSCONF, _SC_RTSIG_MAX },
	{ "SEM_NSEMS_MAX", SYSCONF, _SC_SEM_NSEMS_MAX },
	{ "SEM_VALUE_MAX", SYSCONF, _SC_SEM_VALUE_MAX },
	{ "SIGQUEUE_MAX", SYSCONF, _SC_SIGQUEUE_MAX },
	{ "SS_REPL_MAX", SYSCONF, _SC_SS_REPL_MAX },
	{ "STREAM_MAX", SYSCONF, _SC_STREAM_MAX },
	{ "SYMLOOP_MAX", SYSCONF, _SC_SYMLOOP_MAX },
	{ "TIMER_MAX", SYSCONF, _SC_TIMER_MAX },
	{ "TRACE_EVENT_NAME_MAX", SYSCONF, _SC_TRACE_EVENT_NAME_MAX },
	{ "TRACE_NAME_MAX", SYSCONF, _SC_TRACE_NAME_MAX },
	{ "TRACE_SYS_MAX", SYSCONF, _SC_TRACE_SYS_MAX },
	{ "TRACE_USER_EVENT_MAX", SYSCONF, _SC_TRACE_USER_EVENT_MAX },
	{ "TTY_NAME_MAX", SYSCONF, _SC_TTY_NAME_MAX },
	{ "TZNAME_MAX", SYSCONF, _SC_TZNAME_MAX },
	{ "_AVPHYS_PAGES", SYSCONF, _SC_AVPHYS_PAGES },
	{ "_NPROCESSORS_CONF", SYSCONF, _SC_NPROCESSORS_CONF },
	{ "_NPROCESSORS_ONLN", SYSCONF, _SC_NPROCESSORS_ONLN },
	{ "_PHYS_PAGES", SYSCONF, _SC_PHYS_PAGES },

	/* Options and versions from sysconf(). */
	{ "_POSIX_VERSION", SYSCONF, _SC_VERSION },
	{ "_POSIX_ADVISORY_INFO", SYSCONF, _SC_ADVISORY_INFO },
	{ "_POSIX_ASYNCHRONOUS_IO", SYSCONF, _SC_ASYNCHRONOUS_IO },
	{ "_POSIX_BARRIERS", SYSCONF, _SC_BARRIERS },
	{ "_POSIX_CLOCK_SELECTION", SYSCONF, _SC_CLOCK_SELECTION },
	{ "_POSIX_CPUTIME", SYSCONF, _SC_CPUTIME },
	{ "_POSIX_FSYNC", SYSCONF, _SC_FSYNC },
	{ "_POSIX_IPV6", SYSCONF, _SC_IPV6 },
	{ "_POSIX_JOB_CONTROL", SYSCONF, _SC_JOB_CONTROL },
	{ "_POSIX_MAPPED_FILES", SYSCONF, _SC_MAPPED_FILES },
	{ "_POSIX_MEMLOCK", SYSCONF, _SC_MEMLOCK },
	{ "_POSIX_MEMLOCK_RANGE", SYSCONF, _SC_MEMLOCK_RANGE },
	{ "_POSIX_MEMORY_PROTECTION", SYSCONF, _SC_MEMORY_PROTECTION },
	{ "_POSIX_MESSAGE_PASSING", SYSCONF, _SC_MESSAGE_PASSING },
	{ "_POSIX_MONOTONIC_CLOCK", SYSCONF, _SC_MONOTONIC_CLOCK },
	{ "_POSIX_PRIORITIZED_IO", SYSCONF, _SC_PRIORITIZED_IO },
	{ "_POSIX_PRIORITY_SCHEDULING", SYSCONF, _SC_PRIORITY_SCHEDULING },
	{ "_POSIX_RAW_SOCKETS", SYSCONF, _SC_RAW_SOCKETS },
	{ "_POSIX_READER_WRITER_LOCKS", SYSCONF, _SC_READER_WRITER_LOCKS },
	{ "_POSIX_REALTIME_SIGNALS", SYSCONF, _SC_REALTIME_SIGNALS },
	{ "_POSIX_REGEXP", SYSCONF, _SC_REGEXP },
	{ "_POSIX_SAVED_IDS", SYSCONF, _SC_SAVED_IDS },
	{ "_POSIX_SEMAPHORES", SYSCONF, _SC_SEMAPHORES },
	{ "_POSIX_SHARED_MEMORY_OBJECTS", SYSCONF, _SC_SHARED_MEMORY_OBJECTS },
	{ "_POSIX_SHELL", SYSCONF, _SC_SHELL },
	{ "_POSIX_SPAWN", SYSCONF, _SC_SPAWN },
	{ "_POSIX_SPIN_LOCKS", SYSCONF, _SC_SPIN_LOCKS },
	{ "_POSIX_SPORADIC_SERVER", SYSCONF, _SC_SPORADIC_SERVER },
	{ "_POSIX_SYNCHRONIZED_IO", SYSCONF, _SC_SYNCHRONIZED_IO },
	{ "_POSIX_THREAD_ATTR_STACKADDR", SYSCONF, _SC_THREAD_ATTR_STACKADDR },
	{ "_POSIX_THREAD_ATTR_STACKSIZE", SYSCONF, _SC_THREAD_ATTR_STACKSIZE },
	{ "_POSIX_THREAD_CPUTIME", SYSCONF, _SC_THREAD_CPUTIME },
	{ "_POSIX_THREAD_PRIO_INHERIT", SYSCONF, _SC_THREAD_PRIO_INHERIT },
	{ "_POSIX_THREAD_PRIO_PROTECT", SYSCONF, _SC_THREAD_PRIO_PROTECT },
	{ "_POSIX_THREAD_PRIORITY_SCHEDULING", SYSCONF, _SC_THREAD_PRIORITY_SCHEDULING },
	{ "_POSIX_THREAD_PROCESS_SHARED", SYSCONF, _SC_THREAD_PROCESS_SHARED },
	{ "_POSIX_THREAD_ROBUST_PRIO_INHERIT", SYSCONF, _SC_THREAD_ROBUST_PRIO_INHERIT },
	{ "_POSIX_THREAD_ROBUST_PRIO_PROTECT", SYSCONF, _SC_THREAD_ROBUST_PRIO_PROTECT },
	{ "_POSIX_THREAD_SAFE_FUNCTIONS", SYSCONF, _SC_THREAD_SAFE_FUNCTIONS },
	{ "_POSIX_THREAD_SPORADIC_SERVER", SYSCONF, _SC_THREAD_SPORADIC_SERVER },
	{ "_POSIX_THREADS", SYSCONF, _SC_THREADS },
	{ "_POSIX_TIMEOUTS", SYSCONF, _SC_TIMEOUTS },
	{ "_POSIX_TIMERS", SYSCONF, _SC_TIMERS },
	{ "_POSIX_TRACE", SYSCONF, _SC_TRACE },
	{ "_POSIX_TRACE_EVENT_FILTER", SYSCONF, _SC_TRACE_EVENT_FILTER },
	{ "_POSIX_TRACE_INHERIT", SYSCONF, _SC_TRACE_INHERIT },
	{ "_POSIX_TRACE_LOG", SYSCONF, _SC_TRACE_LOG },
	{ "_POSIX_TYPED_MEMORY_OBJECTS", SYSCONF, _SC_TYPED_MEMORY_OBJECTS },
	{ "_POSIX_V6_ILP32_OFF32", SYSCONF, _SC_V6_ILP32_OFF32 },
	{ "_POSIX_V6_ILP32_OFFBIG", SYSCONF, _SC_V6_ILP32_OFFBIG },
	{ "_POSIX_V6_LP64_OFF64", SYSCONF, _SC_V6_LP64_OFF64 },
	{ "_POSIX_V6_LPBIG_OFFBIG", SYSCONF, _SC_V6_LPBIG_OFFBIG },
	{ "_POSIX_V7_ILP32_OFF32", SYSCONF, _SC_V7_ILP32_OFF32 },
	{ "_POSIX_V7_ILP32_OFFBIG", SYSCONF, _SC_V7_ILP32_OFFBIG },
	{ "_POSIX_V7_LP64_OFF64", SYSCONF, _SC_V7_LP64_OFF64 },
	{ "_POSIX_V7_LPBIG_OFFBIG", SYSCONF, _SC_V7_LPBIG_OFFBIG },
	{ "_POSIX2_VERSION", SYSCONF, _SC_2_VERSION },
	{ "_POSIX2_C_BIND", SYSCONF, _SC_2_C_BIND },
	{ "_POSIX2_C_DEV", SYSCONF, _SC_2_C_DEV },
	{ "_POSIX2_CHAR_TERM", SYSCONF, _SC_2_CHAR_TERM },
	{ "_POSIX2_FORT_DEV", SYSCONF, _SC_2_FORT_DEV },
	{ "_POSIX2_FORT_RUN", SYSCONF, _SC_2_FORT_RUN },
	{ "_POSIX2_LOCALEDEF", SYSCONF, _SC_2_LOCALEDEF },
	{ "_POSIX2_PBS", SYSCONF, _SC_2_PBS },
	{ "_POSIX2_PBS_ACCOUNTING", SYSCONF, _SC_2_PBS_ACCOUNTING },
	{ "_POSIX2_PBS_CHECKPOINT", SYSCONF, _SC_2_PBS_CHECKPOINT },
	{ "_POSIX2_PBS_LOCATE", SYSCONF, _SC_2_PBS_LOCATE },
	{ "_POSIX2_PBS_MESSAGE", SYSCONF, _SC_2_PBS_MESSAGE },
	{ "_POSIX2_PBS_TRACK", SYSCONF, _SC_2_PBS_TRACK },
	{ "_POSIX2_SW_DEV", SYSCONF, _SC_2_SW_DEV },
	{ "_POSIX2_UPE", SYSCONF, _SC_2_UPE },
	{ "_XOPEN_VERSION", SYSCONF, _SC_XOPEN_VERSION },
	{ "_XOPEN_CRYPT", SYSCONF, _SC_XOPEN_CRYPT },
	{ "_XOPEN_ENH_I18N", SYSCONF, _SC_XOPEN_ENH_I18N },
	{ "_XOPEN_LEGACY", SYSCONF, _SC_XOPEN_LEGACY },
	{ "_XOPEN_REALTIME", SYSCONF, _SC_XOPEN_REALTIME },
	{ "_XOPEN_REALTIME_THREADS", SYSCONF, _SC_XOPEN_REALTIME_THREADS },
	{ "_XOPEN_SHM", SYSCONF, _SC_XOPEN_SHM },
	{ "_XOPEN_STREAMS", SYSCONF, _SC_XOPEN_STREAMS },
	{ "_XOPEN_UNIX", SYSCONF, _SC_XOPEN_UNIX },

	/* Strings from confstr(). */
	{ "PATH", CONFSTR, _CS_PATH },
	{ "POSIX_V6_ILP32_OFF32_CFLAGS", CONFSTR, _CS_POSIX_V6_ILP32_OFF32_CFLAGS },
	{ "POSIX_V6_ILP32_OFF32_LDFLAGS", CONFSTR, _CS_POSIX_V6_ILP32_OFF32_LDFLAGS },
	{ "POSIX_V6_ILP32_OFF32_LIBS", CONFSTR, _CS_POSIX_V6_ILP32_OFF32_LIBS },
	{ "POSIX_V6_ILP32_OFF32_LINTFLAGS", CONFSTR, _CS_POSIX_V6_ILP32_OFF32_LINTFLAGS },
	{ "POSIX_V6_ILP32_OFFBIG_CFLAGS", CONFSTR, _CS_POSIX_V6_ILP32_OFFBIG_CFLAGS },
	{ "POSIX_V6_ILP32_OFFBIG_LDFLAGS", CONFSTR, _CS_POSIX_V6_ILP32_OFFBIG_LDFLAGS },
	{ "POSIX_V6_ILP32_OFFBIG_LIBS", CONFSTR, _CS_POSIX_V6_ILP32_OFFBIG_LIBS },
	{ "POSIX_V6_ILP32_OFFBIG_LINTFLAGS", CONFSTR, _CS_POSIX_V6_ILP32_OFFBIG_LINTFLAGS },
	{ "POSIX_V6_LP64_OFF64_CFLAGS", CONFSTR, _CS_POSIX_V6_LP64_OFF64_CFLAGS },
	{ "POSIX_V6_LP64_OFF64_LDFLAGS", CONFSTR, _CS_POSIX_V6_LP64_OFF64_LDFLAGS },
	{ "POSIX_V6_LP64_OFF64_LIBS", CONFSTR, _CS_POSIX_V6_LP64_OFF64_LIBS },
	{ "POSIX_V6_LP64_OFF64_LINTFLAGS", CONFSTR, _CS_POSIX_V6_LP64_OFF64_LINTFLAGS },
	{ "POSIX_V6_LPBIG_OFFBIG_CFLAGS", CONFSTR, _CS_POSIX_V6_LPBIG_OFFBIG_CFLAGS },
	{ "POSIX_V6_LPBIG_OFFBIG_LDFLAGS", CONFSTR, _CS_POSIX_V6_LPBIG_OFFBIG_LDFLAGS },
	{ "POSIX_V6_LPBIG_OFFBIG_LIBS", CONFSTR, _CS_POSIX_V6_LPBIG_OFFBIG_LIBS },
	{ "POSIX_V6_LPBIG_OFFBIG_LINTFLAGS", CONFSTR, _CS_POSIX_V6_LPBIG_OFFBIG_LINTFLAGS },
	{ "POSIX_V6_WIDTH_RESTRICTED_ENVS", CONFSTR, _CS_POSIX_V6_WIDTH_RESTRICTED_ENVS },
	{ "POSIX_V7_ILP32_OFF32_CFLAGS", CONFSTR, _CS_POSIX_V7_ILP32_OFF32_CFLAGS },
	{ "POSIX_V7_ILP32_OFF32_LDFLAGS", CONFSTR, _CS_POSIX_V7_ILP32_OFF32_LDFLAGS },
	{ "POSIX_V7_ILP32_OFF32_LIBS", CONFSTR, _CS_POSIX_V7_ILP32_OFF32_LIBS },
	{ "POSIX_V7_ILP32_OFF32_LINTFLAGS", CONFSTR, _CS_POSIX_V7_ILP32_OFF32_LINTFLAGS },
	{ "POSIX_V7_ILP32_OFFBIG_CFLAGS", CONFSTR, _CS_POSIX_V7_ILP32_OFFBIG_CFLAGS },
	{ "POSIX_V7_ILP32_OFFBIG_LDFLAGS", CONFSTR, _CS_POSIX_V7_ILP32_OFFBIG_LDFLAGS },
	{ "POSIX_V7_ILP32_OFFBIG_LIBS", CONFSTR, _CS_POSIX_V7_ILP32_OFFBIG_LIBS },
	{ "POSIX_V7_ILP32_OFFBIG_LINTFLAGS", CONFSTR, _CS_POSIX_V7_ILP32_OFFBIG_LINTFLAGS },
	{ "POSIX_V7_LP64_OFF64_CFLAGS", CONFSTR, _CS_POSIX_V7_LP64_OFF64_CFLAGS },
	{ "POSIX_V7_LP64_OFF64_LDFLAGS", CONFSTR, _CS_POSIX_V7_LP64_OFF64_LDFLAGS },
	{ "POSIX_V7_LP64_OFF64_LIBS", CONFSTR, _CS_POSIX_V7_LP64_OFF64_LIBS },
	{ "POSIX_V7_LP64_OFF64_LINTFLAGS", CONFSTR, _CS_POSIX_V7_LP64_OFF64_LINTFLAGS },
	{ "POSIX_V7_LPBIG_OFFBIG_CFLAGS", CONFSTR, _CS_POSIX_V7_LPBIG_OFFBIG_CFLAGS },
	{ "POSIX_V7_LPBIG_OFFBIG_LDFLAGS", CONFSTR, _CS_POSIX_V7_LPBIG_OFFBIG_LDFLAGS },
	{ "POSIX_V7_LPBIG_OFFBIG_LIBS", CONFSTR, _CS_POSIX_V7_LPBIG_OFFBIG_LIBS },
	{ "POSIX_V7_LPBIG_OFFBIG_LINTFLAGS", CONFSTR, _CS_POSIX_V7_LPBIG_OFFBIG_LINTFLAGS },
	{ "POSIX_V7_WIDTH_RESTRICTED_ENVS", CONFSTR, _CS_POSIX_V7_WIDTH_RESTRICTED_ENVS },
	{ "V6_ENV", CONFSTR, _CS_V6_ENV },
	{ "V7_ENV", CONFSTR, _CS_V7_ENV },

	/* Per-file limits and options from pathconf(). */
	{ "FILESIZEBITS", PATHCONF, _PC_FILESIZEBITS },
	{ "LINK_MAX", PATHCONF, _PC_LINK_MAX },
	{ "MAX_CANON", PATHCONF, _PC_MAX_CANON },
	{ "MAX_INPUT", PATHCONF, _PC_MAX_INPUT },
	{ "NAME_MAX", PATHCONF, _PC_NAME_MAX },
	{ "PATH_MAX", PATHCONF, _PC_PATH_MAX },
	{ "PIPE_BUF", PATHCONF, _PC_PIPE_BUF },
	{ "POSIX2_SYMLINKS", PATHCONF, _PC_2_SYMLINKS },
	{ "POSIX_ALLOC_SIZE_MIN", PATHCONF, _PC_ALLOC_SIZE_MIN },
	{ "POSIX_REC_INCR_XFER_SIZE", PATHCONF, _PC_REC_INCR_XFER_SIZE },
	{ "POSIX_REC_MAX_XFER_SIZE", PATHCONF, _PC_REC_MAX_XFER_SIZE },
	{ "POSIX_REC_MIN_XFER_SIZE", PATHCONF, _PC_REC_MIN_XFER_SIZE },
	{ "POSIX_REC_XFER_ALIGN", PATHCONF, _PC_REC_XFER_ALIGN },
	{ "SYMLINK_MAX", PATHCONF, _PC_SYMLINK_MAX },
	{ "_POSIX_ASYNC_IO", PATHCONF, _PC_ASYNC_IO },
	{ "_POSIX_CHOWN_RESTRICTED", PATHCONF, _PC_CHOWN_RESTRICTED },
	{ "_POSIX_NO_TRUNC", PATHCONF, _PC_NO_TRUNC },
	{ "_POSIX_PRIO_IO", PATHCONF, _PC_PRIO_IO },
	{ "_POSIX_SYNC_IO", PATHCONF, _PC_SYNC_IO },
	{ "_POSIX_VDISABLE", PATHCONF, _PC_VDISABLE },

	/* Compile-time values from <limits.h>. */
	CONST(CHAR_BIT),
	CONST(CHAR_MAX),
	CONST(CHAR_MIN),
	CONST(INT_MAX),
	CONST(INT_MIN),
	CONST(LONG_BIT),
	CONST(LONG_MAX),
	CONST(LONG_MIN),
	CONST(MB_LEN_MAX),
	CONST(SCHAR_MAX),
	CONST(SCHAR_MIN),
	CONST(SHRT_MAX),
	CONST(SHRT_MIN),
	CONST(SSIZE_MAX),
	UCONST(UCHAR_MAX),
	UCONST(UINT_MAX),
	UCONST(ULONG_MAX),
	UCONST(USHRT_MAX),
	CONST(WORD_BIT),
	CONST(CHARCLASS_NAME_MAX),
	CONST(NL_ARGMAX),
	CONST(NL_LANGMAX),
	CONST(NL_MSGMAX),
	CONST(NL_SETMAX),
	CONST(NL_TEXTMAX),
	/* The minimum values POSIX requires of every system (not all libcs define all). */
	CONST(_POSIX_AIO_LISTIO_MAX),
	CONST(_POSIX_AIO_MAX),
	CONST(_POSIX_ARG_MAX),
	CONST(_POSIX_CHILD_MAX),
	CONST(_POSIX_CLOCKRES_MIN),
	CONST(_POSIX_DELAYTIMER_MAX),
	CONST(_POSIX_HOST_NAME_MAX),
	CONST(_POSIX_LINK_MAX),
	CONST(_POSIX_LOGIN_NAME_MAX),
	CONST(_POSIX_MAX_CANON),
	CONST(_POSIX_MAX_INPUT),
	CONST(_POSIX_MQ_OPEN_MAX),
	CONST(_POSIX_MQ_PRIO_MAX),
	CONST(_POSIX_NAME_MAX),
	CONST(_POSIX_NGROUPS_MAX),
	CONST(_POSIX_OPEN_MAX),
	CONST(_POSIX_PATH_MAX),
	CONST(_POSIX_PIPE_BUF),
	CONST(_POSIX_RE_DUP_MAX),
	CONST(_POSIX_RTSIG_MAX),
	CONST(_POSIX_SEM_NSEMS_MAX),
	CONST(_POSIX_SEM_VALUE_MAX),
	CONST(_POSIX_SIGQUEUE_MAX),
#ifdef _POSIX_SS_REPL_MAX
	CONST(_POSIX_SS_REPL_MAX),
#endif
	CONST(_POSIX_SSIZE_MAX),
	CONST(_POSIX_STREAM_MAX),
	CONST(_POSIX_SYMLINK_MAX),
	CONST(_POSIX_SYMLOOP_MAX),
	CONST(_POSIX_THREAD_DESTRUCTOR_ITERATIONS),
	CONST(_POSIX_THREAD_KEYS_MAX),
	CONST(_POSIX_THREAD_THREADS_MAX),
	CONST(_POSIX_TIMER_MAX),
#ifdef _POSIX_TRACE_EVENT_NAME_MAX
	CONST(_POSIX_TRACE_EVENT_NAME_MAX),
#endif
#ifdef _POSIX_TRACE_NAME_MAX
	CONST(_POSIX_TRACE_NAME_MAX),
#endif
#ifdef _POSIX_TRACE_SYS_MAX
	CONST(_POSIX_TRACE_SYS_MAX),
#endif
#ifdef _POSIX_TRACE_USER_EVENT_MAX
	CONST(_POSIX_TRACE_USER_EVENT_MAX),
#endif
	CONST(_POSIX_TTY_NAME_MAX),
	CONST(_POSIX_TZNAME_MAX),
	CONST(_POSIX2_BC_BASE_MAX),
	CONST(_POSIX2_BC_DIM_MAX),
	CONST(_POSIX2_BC_SCALE_MAX),
	CONST(_POSIX2_BC_STRING_MAX),
	CONST(_POSIX2_CHARCLASS_NAME_MAX),
	CONST(_POSIX2_COLL_WEIGHTS_MAX),
	CONST(_POSIX2_EXPR_NEST_MAX),
	CONST(_POSIX2_LINE_MAX),
	CONST(_POSIX2_RE_DUP_MAX),
#ifdef _XOPEN_NAME_MAX
	CONST(_XOPEN_NAME_MAX),
#endif
#ifdef _XOPEN_PATH_MAX
	CONST(_XOPEN_PATH_MAX),
#endif
};

#define NVARS (sizeof vars / sizeof vars[0])

static const struct var *find_exact(const char *name)
{
	size_t i;

	for (i = 0; i < NVARS; i++)
		if (strcmp(vars[i].name, name) == 0)
			return &vars[i];
	return NULL;
}

/*
 * Look a name up as given, then with its leading '_' dropped or added
 * (NPROCESSORS_ONLN, POSIX_VERSION), then with a "_POSIX_" prefix
 * (JOB_CONTROL, CHOWN_RESTRICTED). The last rule only finds sysconf and
 * pathconf names: _POSIX_ARG_MAX is the POSIX minimum, not ARG_MAX.
 */
static const struct var *find(const char *name)
{
	const struct var *v;
	char buf[128];

	if ((v = find_exact(name)))
		return v;
	if (name[0] == '_')
		return find_exact(name + 1);
	if (snprintf(buf, sizeof buf, "_%s", name) < (int)sizeof buf && (v = find_exact(buf)))
		return v;
	if (snprintf(buf, sizeof buf, "_POSIX_%s", name) < (int)sizeof buf && (v = find_exact(buf))
	    && (v->kind == SYSCONF || v->kind == PATHCONF))
		return v;
	return NULL;
}

static char *xstrdup(const char *s)
{
	char *copy = strdup(s);

	if (!copy) {
		perror("getconf");
		exit(1);
	}
	return copy;
}

static char *number(long n)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%ld", n);
	return xstrdup(buf);
}

/*
 * The value of v as text, for the caller to free: a number, a confstr()
 * string or "undefined". NULL when pathconf() fails on path (errno says why).
 */
static char *value_of(const struct var *v, const char *path)
{
	char buf[32];
	char *s;
	size_t len;
	long n = -1;

	errno = 0;
	switch (v->kind) {
	case CONSTANT:
		return number(v->id);
	case UCONSTANT:
		snprintf(buf, sizeof buf, "%lu", (unsigned long)v->id);
		return xstrdup(buf);
	case CONFSTR:
		len = confstr((int)v->id, NULL, 0);
		if (len == 0)
			return xstrdup("undefined");
		if (!(s = malloc(len))) {
			perror("getconf");
			exit(1);
		}
		confstr((int)v->id, s, len);
		return s;
	case SYSCONF:
		/* -1 is "no limit" (errno untouched) or a name this libc lacks (EINVAL). */
		n = sysconf((int)v->id);
		break;
	case PATHCONF:
		n = pathconf(path, (int)v->id);
		/* EINVAL: the variable does not apply to this file or system. */
		if (n == -1 && errno != 0 && errno != EINVAL)
			return NULL;
		break;
	}
	return n == -1 ? xstrdup("undefined") : number(n);
}

/* pathconf() may ignore its path (musl does); a missing file is still an error. */
static int check_path(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0)
		return 0;
	fprintf(stderr, "getconf: %s: %s\n", path, strerror(errno));
	return -1;
}

static int list_all(const char *path)
{
	size_t i;
	char *s;

	if (check_path(path))
		return 1;
	for (i = 0; i < NVARS; i++) {
		if (!(s = value_of(&vars[i], path))) {
			fprintf(stderr, "getconf: %s: %s\n", path, strerror(errno));
			return 1;
		}
		if (*s)
			printf("%-35s %s\n", vars[i].name, s);
		else
			printf("%s\n", vars[i].name);
		free(s);
	}
	return 0;
}

static int show(const char *name, const char *path)
{
	const struct var *v = find(name);
	char *s;

	if (!v) {
		fprintf(stderr, "getconf: %s: unknown variable\n", name);
		return 1;
	}
	if (v->kind == PATHCONF && !path) {
		fprintf(stderr, "getconf: %s: needs a PATH operand\n", name);
		return 2;
	}
	if (v->kind != PATHCONF && path) {
		fprintf(stderr, "getconf: %s: takes no PATH operand\n", name);
		return 2;
	}
	if (path && check_path(path))
		return 1;
	if (!(s = value_of(v, path))) {
		fprintf(stderr, "getconf: %s: %s\n", path, strerror(errno));
		return 1;
	}
	puts(s);
	free(s);
	return 0;
}

/* -v SPEC: only the programming environments this system supports (sysconf > 0). */
static int check_spec(const char *spec)
{
	const struct var *v = find(spec);
	int environment = v && (strncmp(v->name, "_POSIX_V6_", 10) == 0 ||
				strncmp(v->name, "_POSIX_V7_", 10) == 0);

	if (!environment) {
		fprintf(stderr, "getconf: %s: unknown specification\n", spec);
		return 1;
	}
	if (sysconf((int)v->id) <= 0) {
		fprintf(stderr, "getconf: %s: unsupported specification\n", spec);
		return 1;
	}
	return 0;
}

static int usage(void)
{
	fputs("usage: getconf [-v SPEC] NAME [PATH]\n"
	      "       getconf -a [PATH]\n", stderr);
	return 2;
}

static int finish(int status)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		perror("getconf: write error");
		return 1;
	}
	return status;
}

int main(int argc, char **argv)
{
	const char *spec = NULL;
	int all = 0, i = 1, operands;

	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "-a") == 0) {
			all = 1;
		} else if (strcmp(argv[i], "-v") == 0 && i + 1 < argc) {
			spec = argv[++i];
		} else if (strncmp(argv[i], "-v", 2) == 0 && argv[i][2]) {
			spec = argv[i] + 2;
		} else {
			return usage();
		}
	}
	operands = argc - i;
	if (spec && check_spec(spec))
		return 1;
	if (all)
		return operands > 1 ? usage() : finish(list_all(operands ? argv[i] : "/"));
	if (operands < 1 || operands > 2)
		return usage();
	return finish(show(argv[i], operands == 2 ? argv[i + 1] : NULL));
}
