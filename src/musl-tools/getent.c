/*
 * getent - print entries from the system databases
 *
 *   getent DATABASE [KEY...]
 *
 * musl ships no getent; this is a clean-room implementation written for
 * serpent-bootstrap from the documented behaviour of the utility. Linux only.
 *
 *   passwd, group   libc: getpwnam/getpwuid/getpwent, getgrnam/getgrgid/getgrent
 *   hosts           lookups through libc's resolver (gethostbyname2, gethostbyaddr);
 *                   enumeration reads /etc/hosts (musl's gethostent returns nothing)
 *   ahosts, ahostsv4, ahostsv6
 *                   getaddrinfo() for any family, IPv4, IPv6; keys only
 *   services, protocols
 *                   read /etc/services and /etc/protocols: musl's getservent
 *                   returns nothing and its getprotoent serves a built-in table
 *                   without aliases; libc answers only when the file is missing
 *
 * Exit status: 0 success, 1 missing arguments or unknown database,
 * 2 one or more keys not found, 3 enumeration not supported for the database.
 */
#define _DEFAULT_SOURCE		/* gethostbyname2, gethostbyaddr, NI_MAXHOST */
#define _XOPEN_SOURCE 700	/* getpwent, getgrent */

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define HOSTS_FILE "/etc/hosts"
#define SERVICES_FILE "/etc/services"
#define PROTOCOLS_FILE "/etc/protocols"

enum { SUCCESS = 0, FAILURE = 1, NOT_FOUND = 2, NO_ENUMERATION = 3 };

/* A key of decimal digits only, no larger than max. */
static int numeric(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long n;
	char *end;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (*end || errno || n > max)
		return 0;
	*out = n;
	return 1;
}

static const char *str(const char *s)
{
	return s ? s : "";
}

/* Whether name is primary or one of the aliases. */
static int has_name(const char *name, const char *primary, char **aliases)
{
	if (strcmp(name, primary) == 0)
		return 1;
	for (; aliases && *aliases; aliases++)
		if (strcmp(name, *aliases) == 0)
			return 1;
	return 0;
}

/* " alias..." (leaving out a repeat of the primary name) and the newline. */
static void print_aliases(char **aliases, const char *primary)
{
	for (; aliases && *aliases; aliases++)
		if (strcmp(*aliases, primary) != 0)
			printf(" %s", *aliases);
	putchar('\n');
}

/* ---- files: whitespace-separated fields, '#' starts a comment ---- */

#define MAX_FIELDS 64

struct record {
	char line[4096];
	char *field[MAX_FIELDS + 1];	/* NULL-terminated */
	int n;
};

/* Read the next non-empty record of f into r; 0 at end of file. */
static int next_record(FILE *f, struct record *r)
{
	size_t len;
	char *p;
	int c;

	while (fgets(r->line, sizeof r->line, f)) {
		len = strlen(r->line);
		if (len && r->line[len - 1] != '\n' && !feof(f)) {
			/* Longer than any sane entry: skip it rather than cut it. */
			while ((c = getc(f)) != EOF && c != '\n')
				;
			continue;
		}
		if ((p = strchr(r->line, '#')))
			*p = '\0';
		r->n = 0;
		for (p = strtok(r->line, " \t\r\n"); p && r->n < MAX_FIELDS; p = strtok(NULL, " \t\r\n"))
			r->field[r->n++] = p;
		r->field[r->n] = NULL;
		if (r->n > 0)
			return 1;
	}
	return 0;
}

/* ---- passwd ---- */

static void print_passwd(const struct passwd *pw)
{
	printf("%s:%s:%lu:%lu:%s:%s:%s\n", pw->pw_name, str(pw->pw_passwd),
	       (unsigned long)pw->pw_uid, (unsigned long)pw->pw_gid,
	       str(pw->pw_gecos), str(pw->pw_dir), str(pw->pw_shell));
}

static int passwd_key(const char *key)
{
	unsigned long id;
	struct passwd *pw;

	pw = numeric(key, (uid_t)-1, &id) ? getpwuid((uid_t)id) : getpwnam(key);
	if (pw)
		print_passwd(pw);
	return pw != NULL;
}

static void passwd_all(void)
{
	struct passwd *pw;

	setpwent();
	while ((pw = getpwent()))
		print_passwd(pw);
	endpwent();
}

/* ---- group ---- */

static void print_group(const struct group *gr)
{
	char **member;

	printf("%s:%s:%lu:", gr->gr_name, str(gr->gr_passwd), (unsigned long)gr->gr_gid);
	for (member = gr->gr_mem; member && *member; member++)
		printf("%s%s", member == gr->gr_mem ? "" : ",", *member);
	putchar('\n');
}

static int group_key(const char *key)
{
	unsigned long id;
	struct group *gr;

	gr = numeric(key, (gid_t)-1, &id) ? getgrgid((gid_t)id) : getgrnam(key);
	if (gr)
		print_group(gr);
	return gr != NULL;
}

static void group_all(void)
{
	struct group *gr;

	setgrent();
	while ((gr = getgrent()))
		print_group(gr);
	endgrent();
}

/* ---- hosts ---- */

static int is_address(const char *s)
{
	unsigned char addr[16];

	return inet_pton(AF_INET6, s, addr) == 1 || inet_pton(AF_INET, s, addr) == 1;
}

/* One "ADDRESS NAME ALIAS..." line per address. */
static void print_hostent(const struct hostent *h)
{
	char text[INET6_ADDRSTRLEN];
	char **addr;

	for (addr = h->h_addr_list; *addr; addr++) {
		if (!inet_ntop(h->h_addrtype, *addr, text, sizeof text))
			continue;
		printf("%-15s %s", text, h->h_name);
		print_aliases(h->h_aliases, h->h_name);
	}
}

static int hosts_key(const char *key)
{
	unsigned char addr[16];
	struct hostent *h;

	if (inet_pton(AF_INET6, key, addr) == 1)
		h = gethostbyaddr(addr, 16, AF_INET6);
	else if (inet_pton(AF_INET, key, addr) == 1)
		h = gethostbyaddr(addr, 4, AF_INET);
	else if (!(h = gethostbyname2(key, AF_INET6)))
		h = gethostbyname2(key, AF_INET);
	/* musl's gethostbyaddr names an address that has no name by the address itself. */
	if (h && is_address(h->h_name))
		h = NULL;
	if (h)
		print_hostent(h);
	return h != NULL;
}

static void hosts_all(void)
{
	FILE *f = fopen(HOSTS_FILE, "r");
	unsigned char addr[16];
	char *addrs[2] = { (char *)addr, NULL };
	struct hostent h, *hp;
	struct record r;

	if (!f) {
		sethostent(1);
		while ((hp = gethostent()))
			print_hostent(hp);
		endhostent();
		return;
	}
	while (next_record(f, &r)) {
		if (r.n < 2)
			continue;
		if (inet_pton(AF_INET6, r.field[0], addr) == 1) {
			h.h_addrtype = AF_INET6;
			h.h_length = 16;
		} else if (inet_pton(AF_INET, r.field[0], addr) == 1) {
			h.h_addrtype = AF_INET;
			h.h_length = 4;
		} else {
			continue;
		}
		h.h_name = r.field[1];
		h.h_aliases = &r.field[2];
		h.h_addr_list = addrs;
		print_hostent(&h);
	}
	fclose(f);
}

/* ---- ahosts, ahostsv4, ahostsv6: every socket address getaddrinfo() returns ---- */

static const char *socktype_name(int socktype)
{
	switch (socktype) {
	case SOCK_STREAM:
		return "STREAM";
	case SOCK_DGRAM:
		return "DGRAM";
	case SOCK_RAW:
		return "RAW";
	default:
		return "?";
	}
}

static int addrinfo_key(const char *key, int family, int flags)
{
	struct addrinfo hints, *res, *ai;
	char text[NI_MAXHOST];

	memset(&hints, 0, sizeof hints);
	hints.ai_family = family;
	hints.ai_flags = AI_CANONNAME | flags;
	if (getaddrinfo(key, NULL, &hints, &res) != 0)
		return 0;
	for (ai = res; ai; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof text, NULL, 0,
				NI_NUMERICHOST) != 0)
			continue;
		if (ai == res && ai->ai_canonname)
			printf("%-15s %-6s %s\n", text, socktype_name(ai->ai_socktype),
			       ai->ai_canonname);
		else
			printf("%-15s %s\n", text, socktype_name(ai->ai_socktype));
	}
	freeaddrinfo(res);
	return 1;
}

static int ahosts_key(const char *key)
{
	return addrinfo_key(key, AF_UNSPEC, 0);
}

static int ahostsv4_key(const char *key)
{
	return addrinfo_key(key, AF_INET, 0);
}

static int ahostsv6_key(const char *key)
{
	return addrinfo_key(key, AF_INET6, AI_V4MAPPED);
}

/* ---- services: "name port/proto alias..." ---- */

static int to_servent(struct record *r, struct servent *se)
{
	unsigned long port;
	char *slash;

	if (r->n < 2 || !(slash = strchr(r->field[1], '/')) || !slash[1])
		return 0;
	*slash = '\0';
	if (!numeric(r->field[1], 65535, &port))
		return 0;
	se->s_name = r->field[0];
	se->s_port = htons((unsigned short)port);
	se->s_proto = slash + 1;
	se->s_aliases = &r->field[2];
	return 1;
}

static void print_servent(const struct servent *se)
{
	printf("%-21s %d/%s", se->s_name, ntohs((unsigned short)se->s_port), se->s_proto);
	print_aliases(se->s_aliases, se->s_name);
}

/* KEY is name[/proto] or port[/proto]; the first matching entry is printed. */
static int services_key(const char *key)
{
	struct servent se, *found = NULL;
	const char *proto = NULL;
	unsigned long port;
	char name[256], *slash;
	struct record r;
	int by_port;
	FILE *f;

	if (snprintf(name, sizeof name, "%s", key) >= (int)sizeof name)
		return 0;
	if ((slash = strchr(name, '/'))) {
		*slash = '\0';
		proto = slash + 1;
	}
	by_port = numeric(name, 65535, &port);
	if (!(f = fopen(SERVICES_FILE, "r"))) {
		found = by_port ? getservbyport(htons((unsigned short)port), proto)
				: getservbyname(name, proto);
	} else {
		while (!found && next_record(f, &r)) {
			if (!to_servent(&r, &se) || (proto && strcmp(proto, se.s_proto) != 0))
				continue;
			if (by_port ? ntohs((unsigned short)se.s_port) == port
				    : has_name(name, se.s_name, se.s_aliases))
				found = &se;
		}
		fclose(f);
	}
	if (found)
		print_servent(found);
	return found != NULL;
}

static void services_all(void)
{
	FILE *f = fopen(SERVICES_FILE, "r");
	struct servent se, *sp;
	struct record r;

	if (!f) {
		setservent(1);
		while ((sp = getservent()))
			print_servent(sp);
		endservent();
		return;
	}
	while (next_record(f, &r))
		if (to_servent(&r, &se))
			print_servent(&se);
	fclose(f);
}

/* ---- protocols: "name number alias..." ---- */

static int to_protoent(struct record *r, struct protoent *pe)
{
	unsigned long number;

	if (r->n < 2 || !numeric(r->field[1], 255, &number))
		return 0;
	pe->p_name = r->field[0];
	pe->p_proto = (int)number;
	pe->p_aliases = &r->field[2];
	return 1;
}

static void print_protoent(const struct protoent *pe)
{
	printf("%-21s %d", pe->p_name, pe->p_proto);
	print_aliases(pe->p_aliases, pe->p_name);
}

/* KEY is a protocol name, alias or number. */
static int protocols_key(const char *key)
{
	struct protoent pe, *found = NULL;
	unsigned long number;
	struct record r;
	int by_number = numeric(key, 255, &number);
	FILE *f;

	if (!(f = fopen(PROTOCOLS_FILE, "r"))) {
		found = by_number ? getprotobynumber((int)number) : getprotobyname(key);
	} else {
		while (!found && next_record(f, &r)) {
			if (!to_protoent(&r, &pe))
				continue;
			if (by_number ? (unsigned long)pe.p_proto == number
				      : has_name(key, pe.p_name, pe.p_aliases))
				found = &pe;
		}
		fclose(f);
	}
	if (found)
		print_protoent(found);
	return found != NULL;
}

static void protocols_all(void)
{
	FILE *f = fopen(PROTOCOLS_FILE, "r");
	struct protoent pe, *pp;
	struct record r;

	if (!f) {
		setprotoent(1);
		while ((pp = getprotoent()))
			print_protoent(pp);
		endprotoent();
		return;
	}
	while (next_record(f, &r))
		if (to_protoent(&r, &pe))
			print_protoent(&pe);
	fclose(f);
}

/* ---- the databases ---- */

struct database {
	const char *name;
	int (*lookup)(const char *key);	/* print key's entry; 0 when there is none */
	void (*enumerate)(void);	/* print every entry; NULL: not supported */
};

static const struct database databases[] = {
	{ "ahosts", ahosts_key, NULL },
	{ "ahostsv4", ahostsv4_key, NULL },
	{ "ahostsv6", ahostsv6_key, NULL },
	{ "group", group_key, group_all },
	{ "hosts", hosts_key, hosts_all },
	{ "passwd", passwd_key, passwd_all },
	{ "protocols", protocols_key, protocols_all },
	{ "services", services_key, services_all },
};

#define NDATABASES (sizeof databases / sizeof databases[0])

static int usage(FILE *to, int status)
{
	size_t i;

	fputs("usage: getent DATABASE [KEY...]\ndatabases:", to);
	for (i = 0; i < NDATABASES; i++)
		fprintf(to, " %s", databases[i].name);
	fputc('\n', to);
	return status;
}

static int finish(int status)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		perror("getent: write error");
		return FAILURE;
	}
	return status;
}

int main(int argc, char **argv)
{
	const struct database *db = NULL;
	int i = 1, status = SUCCESS;
	size_t d;

	if (i < argc && (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0))
		return usage(stdout, SUCCESS);
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i >= argc)
		return usage(stderr, FAILURE);
	for (d = 0; d < NDATABASES && !db; d++)
		if (strcmp(argv[i], databases[d].name) == 0)
			db = &databases[d];
	if (!db) {
		fprintf(stderr, "getent: %s: unknown database\n", argv[i]);
		return usage(stderr, FAILURE);
	}
	if (++i == argc) {
		if (!db->enumerate) {
			fprintf(stderr, "getent: %s: enumeration not supported\n", db->name);
			return NO_ENUMERATION;
		}
		db->enumerate();
	}
	for (; i < argc; i++)
		if (!db->lookup(argv[i]))
			status = NOT_FOUND;
	return finish(status);
}
