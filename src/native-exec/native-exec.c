/*
 * native-exec - the compiler and binutils entry points of a foreign-arch chroot
 *
 * Installed once, with links to it named cc, c++, clang, clang++, cpp, ld, ld.lld, ar,
 * ranlib, nm, objcopy and strip, in a directory that comes first in the chroot's PATH.
 * Called as NAME, it looks up the NAME that the rest of PATH gives (the target-arch
 * program, which would run under qemu). When that is the LLVM program NAME stands for,
 * it runs the same LLVM built for the build machine instead (BIN/<program>, BIN being
 * ../../bin from here), so the kernel runs it natively. Anything else (tcc's cc,
 * busybox's ar) is run as it is.
 *
 * clang is made to believe it is installed where the emulated one is: -ccc-install-dir
 * the emulated program's real directory gives it the same search paths, -resource-dir the
 * resource dir the emulated one computes from there (the same string: it ends up in debug
 * info), --no-default-config keeps it from reading the configuration files beside the
 * native binary (the emulated one has none), --target gives it the emulated one's default
 * target, and -B this directory makes it run ld.lld through here too. None of these flags
 * is reported as unused, so compile output stays the same as well.
 *
 * The driver itself stays where it really is (no -no-canonical-prefixes): when one command
 * makes more than one job (compile and link, or two sources), clang runs each cc1 as a new
 * process of its own executable, which must be the native one, not the emulated one.
 *
 * Build: cc -static -O2 -DTRIPLET='"aarch64-serpent-linux-musl"' -DLLVM_MAJOR='"19"' \
 *            -o native-exec native-exec.c
 */
#define _GNU_SOURCE

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TRIPLET
#error "build with -DTRIPLET='\"<arch>-<vendor>-linux-musl\"'"
#endif
#ifndef LLVM_MAJOR
#error "build with -DLLVM_MAJOR='\"<major version of the LLVM it runs>\"'"
#endif

struct entry {
	const char *name;	/* what the build calls */
	const char *program;	/* the native program in BIN */
	const char *family;	/* the emulated program's real name starts with this */
	int is_clang;
};

static const struct entry ENTRIES[] = {
	{"cc", "clang", "clang", 1},
	{"c++", "clang", "clang", 1},
	{"cpp", "clang", "clang", 1},
	{"clang", "clang", "clang", 1},
	{"clang++", "clang", "clang", 1},
	{"ld", "ld.lld", "lld", 0},
	{"ld.lld", "ld.lld", "lld", 0},
	{"ar", "llvm-ar", "llvm-ar", 0},
	{"ranlib", "llvm-ar", "llvm-ar", 0},
	{"nm", "llvm-nm", "llvm-nm", 0},
	{"objcopy", "llvm-objcopy", "llvm-objcopy", 0},
	{"strip", "llvm-objcopy", "llvm-objcopy", 0},
};

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static void dir_name(const char *path, char *out)
{
	const char *slash = strrchr(path, '/');
	size_t len = slash ? (size_t)(slash - path) : 0;
	memcpy(out, path, len);
	out[len] = '\0';
}

static void die(const char *name, const char *what, int status)
{
	fprintf(stderr, "native-exec: %s: %s\n", name, what);
	exit(status);
}

/* The first NAME in PATH outside this program's own directory, or NULL. */
static int find_emulated(const char *name, const char *own_dir, char *found)
{
	const char *path = getenv("PATH");
	char dir[PATH_MAX], real[PATH_MAX];

	while (path && *path) {
		size_t len = strcspn(path, ":");
		if (len > 0 && len < sizeof dir) {
			memcpy(dir, path, len);
			dir[len] = '\0';
			int ours = realpath(dir, real) && strcmp(real, own_dir) == 0;
			if (!ours && snprintf(found, PATH_MAX, "%s/%s", dir, name) < PATH_MAX
			    && access(found, X_OK) == 0)
				return 1;
		}
		path += len + (path[len] == ':');
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *name = base_name(argv[0]);
	const struct entry *entry = NULL;
	char self[PATH_MAX], own_dir[PATH_MAX], emulated[PATH_MAX], real[PATH_MAX];
	char native[PATH_MAX], installed[PATH_MAX], prefix[PATH_MAX], bflag[PATH_MAX + 2];
	char resource_dir[PATH_MAX + 32];

	for (size_t i = 0; i < sizeof ENTRIES / sizeof ENTRIES[0]; i++)
		if (strcmp(ENTRIES[i].name, name) == 0)
			entry = &ENTRIES[i];
	if (!entry)
		die(name, "not a name this program stands for", 127);
	if (!realpath("/proc/self/exe", self))
		die(name, "cannot resolve /proc/self/exe (is /proc mounted?)", 127);
	dir_name(self, own_dir);
	if (!find_emulated(name, own_dir, emulated))
		die(name, "not found in PATH", 127);
	if (!realpath(emulated, real))
		die(emulated, strerror(errno), 127);
	if (strncmp(base_name(real), entry->family, strlen(entry->family)) != 0) {
		execv(emulated, argv);	/* not LLVM's: run what the build asked for */
		die(emulated, strerror(errno), 126);
	}
	if (snprintf(native, sizeof native, "%s/../../bin/%s", own_dir, entry->program)
	    >= (int)sizeof native)
		die(name, "path too long", 127);

	char **args = calloc((size_t)argc + 9, sizeof *args);
	if (!args)
		die(name, "out of memory", 127);
	int n = 0;
	if (entry->is_clang) {
		dir_name(real, installed);
		dir_name(installed, prefix);	/* as clang's GetResourcesPath: <bin>/../lib/clang/N */
		snprintf(resource_dir, sizeof resource_dir, "%s/lib/clang/%s", prefix, LLVM_MAJOR);
		snprintf(bflag, sizeof bflag, "-B%s", own_dir);
		args[n++] = argv[0];	/* its name picks the driver mode (cc, c++, cpp) */
		args[n++] = "--no-default-config";
		args[n++] = "-ccc-install-dir";
		args[n++] = installed;
		args[n++] = "-resource-dir";
		args[n++] = resource_dir;
		args[n++] = "--target=" TRIPLET;
		args[n++] = bflag;
	} else {
		args[n++] = argv[0];
	}
	for (int i = 1; i < argc; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	execv(native, args);
	die(native, strerror(errno), 126);
	return 126;
}
