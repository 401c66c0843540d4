/* btf_load: hand raw BTF blobs to the kernel's BTF verifier with bpf(BPF_BTF_LOAD).
 *
 * Part of the kbtf test harness (`cargo xtask btf-load`). It runs as root inside the busybox
 * initramfs of the qemu guest; `cargo xtask` compiles it with `gcc -static -O2` at run time.
 *
 * usage: btf_load [-b BASE] [-n LINES] [-s LOG_BYTES] [-v] PATH...
 *
 * PATH is a raw BTF blob (the format of /sys/kernel/btf/vmlinux) or a directory, whose regular
 * files are loaded in name order (not recursively). For each blob it prints one line:
 *
 *   BTFLOAD <name> ok fd=N
 *   BTFLOAD <name> err=<ERRNO>(<n>) log=<last LINES non-empty lines of the verifier log, ' | '>
 *   BTFLOAD <name> bad why=<reason>      (no kernel verdict: unreadable, or -b and not split)
 *
 * and at the end `BTFLOAD-END total=T ok=O err=E bad=B`. <name> is the path as given, or for a
 * directory entry its file name. Bytes outside printable ASCII in names and log lines are
 * written as \xNN, tabs as a space, so that every verdict is one line of plain text.
 *
 * With -b BASE every blob is split BTF on top of BASE (a module's .BTF on vmlinux BTF). 6.1
 * cannot load split BTF through BPF_BTF_LOAD (see below), so each blob is flattened first: one
 * standalone BTF made of BASE's types then the blob's, and BASE's strings then the blob's. Split
 * BTF numbers its types after the base's last id and its string offsets after the end of the
 * base's string section, so the concatenation needs no renumbering: every id and offset keeps
 * its meaning. The kernel then runs its full verifier, resolve pass included, over the module's
 * types, which the module loader of 6.1 does not (it skips the resolve pass).
 *
 * The kernel rules this program relies on (Linux 6.1, kernel/bpf/syscall.c and btf.c):
 *  - BPF_BTF_LOAD needs CAP_BPF or CAP_SYS_ADMIN (bpf_capable()); the guest runs as root.
 *  - The attribute is { u64 btf; u64 btf_log_buf; u32 btf_size; u32 btf_log_size;
 *    u32 btf_log_level; }: every byte of union bpf_attr after btf_log_level must be zero. There
 *    is no field for a base BTF in 6.1: a blob is always parsed as a standalone (base) BTF.
 *  - btf_size over BTF_MAX_SIZE (16 MiB) gives E2BIG before anything is parsed.
 *  - With a log, its size must be at least 128 and at most UINT_MAX >> 2, and the level one of
 *    the BPF_LOG_* bits (1 here). At level 1 the verifier writes a line per type and per member
 *    while it checks them, so the log of a vmlinux-sized BTF is about 10 MB. The log is not a
 *    ring: once it is full the kernel drops what comes after (the error message!) and, at the
 *    end, fails the load with ENOSPC even if the BTF is good. So on ENOSPC with a full log this
 *    program retries with a log twice the size, up to the kernel's limit.
 *  - The fd of a loaded BTF is closed at once: each loaded BTF holds kernel memory until then.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_bpf
#define __NR_bpf 321 /* x86_64 */
#endif

/* The BPF_BTF_LOAD command number of enum bpf_cmd (stable uapi). */
#define CMD_BTF_LOAD 18
/* BPF_LOG_LEVEL1. */
#define LOG_LEVEL1 1
/* The kernel refuses a log over UINT_MAX >> 2 bytes. */
#define LOG_MAX ((uint32_t)(0xffffffffu >> 2))
#define LOG_DEFAULT (16u << 20)

/* The BPF_BTF_LOAD member of union bpf_attr as of Linux 6.1. The union is larger, but the
 * kernel only requires the bytes past the last field it knows to be zero, and accepts a
 * shorter attribute (it zero-fills the rest). */
struct btf_load_attr {
	uint64_t btf;
	uint64_t btf_log_buf;
	uint32_t btf_size;
	uint32_t btf_log_size;
	uint32_t btf_log_level;
};

static char *log_buf;
static uint32_t log_size;
static unsigned tail_lines = 3;
static int verbose;
static unsigned n_total, n_ok, n_err, n_bad;

/* The -b base, whole, and its parsed header. */
static unsigned char *base_data;
static size_t base_size;

/* The parts of a BTF header (struct btf_header) flattening needs. */
struct hdr {
	uint8_t version;
	uint32_t hdr_len, type_off, type_len, str_off, str_len;
};

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

/* Reads a little-endian BTF header and checks that both sections lie in the blob; returns
 * NULL or what is wrong. */
static const char *parse_hdr(const unsigned char *b, size_t n, struct hdr *h)
{
	uint64_t data;

	if (n < 24)
		return "shorter than a BTF header";
	if (b[0] != 0x9f || b[1] != 0xeb)
		return "no BTF magic (9f eb)";
	h->version = b[2];
	h->hdr_len = get32(b + 4);
	h->type_off = get32(b + 8);
	h->type_len = get32(b + 12);
	h->str_off = get32(b + 16);
	h->str_len = get32(b + 20);
	if (h->hdr_len < 24 || h->hdr_len > n)
		return "bad hdr_len";
	data = n - h->hdr_len;
	if ((uint64_t)h->type_off + h->type_len > data)
		return "type section past the end";
	if ((uint64_t)h->str_off + h->str_len > data)
		return "string section past the end";
	return NULL;
}

/* Builds the standalone BTF of split blob `s` on the -b base (see the top of this file) into
 * a new buffer; returns NULL and sets *why on failure. */
static unsigned char *flatten(const unsigned char *s, size_t n, size_t *out_n, const char **why)
{
	struct hdr bh, sh;
	unsigned char *o, *p;
	uint64_t types, strs, total;

	if ((*why = parse_hdr(base_data, base_size, &bh)))
		return NULL;
	if ((*why = parse_hdr(s, n, &sh)))
		return NULL;
	types = (uint64_t)bh.type_len + sh.type_len;
	strs = (uint64_t)bh.str_len + sh.str_len;
	total = 24 + types + strs;
	if (total > 0xffffffffu) {
		*why = "flattened BTF over 4 GiB";
		return NULL;
	}
	o = malloc(total);
	if (!o) {
		*why = "out of memory";
		return NULL;
	}
	o[0] = 0x9f;
	o[1] = 0xeb;
	o[2] = bh.version;
	o[3] = 0;
	put32(o + 4, 24);
	put32(o + 8, 0);
	put32(o + 12, (uint32_t)types);
	put32(o + 16, (uint32_t)types);
	put32(o + 20, (uint32_t)strs);
	p = o + 24;
	memcpy(p, base_data + bh.hdr_len + bh.type_off, bh.type_len);
	p += bh.type_len;
	memcpy(p, s + sh.hdr_len + sh.type_off, sh.type_len);
	p += sh.type_len;
	memcpy(p, base_data + bh.hdr_len + bh.str_off, bh.str_len);
	p += bh.str_len;
	memcpy(p, s + sh.hdr_len + sh.str_off, sh.str_len);
	*out_n = (size_t)total;
	return o;
}

/* Maps (or remaps) the log buffer to `size` bytes; returns 0 on failure. */
static int log_alloc(uint32_t size)
{
	void *p;

	if (log_buf)
		munmap(log_buf, log_size);
	log_buf = NULL;
	log_size = 0;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (p == MAP_FAILED)
		return 0;
	log_buf = p;
	log_size = size;
	return 1;
}

/* Writes `s` (up to `n` bytes) as one line's worth of plain text. */
static void put_clean(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\t')
			putchar(' ');
		else if (c < 0x20 || c >= 0x7f || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

/* Prints the last `tail_lines` lines of the log that hold more than blanks, oldest first. */
static void put_log_tail(void)
{
	const char *starts[64];
	size_t lens[64];
	unsigned found = 0, want = tail_lines > 64 ? 64 : tail_lines;
	size_t end = strnlen(log_buf, log_size);

	while (end > 0 && found < want) {
		size_t e = end, b, i;
		int blank = 1;

		while (e > 0 && log_buf[e - 1] == '\n')
			e--;
		b = e;
		while (b > 0 && log_buf[b - 1] != '\n')
			b--;
		for (i = b; i < e; i++)
			if (log_buf[i] != ' ' && log_buf[i] != '\t')
				blank = 0;
		if (!blank && e > b) {
			starts[found] = log_buf + b;
			lens[found] = e - b;
			found++;
		}
		end = b;
	}
	while (found > 0) {
		const char *s = starts[found - 1];
		size_t n = lens[found - 1];

		/* Leading blanks (member lines start with a tab) carry no meaning here. */
		while (n > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			n--;
		}
		put_clean(s, n);
		found--;
		if (found)
			fputs(" | ", stdout);
	}
}

static const char *errno_name(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "E?";
}

/* Loads one blob; returns the fd or -errno. */
static int btf_load(const void *data, size_t size)
{
	struct btf_load_attr attr;
	long fd;

	for (;;) {
		memset(&attr, 0, sizeof(attr));
		attr.btf = (uint64_t)(uintptr_t)data;
		attr.btf_size = size > 0xffffffffu ? 0xffffffffu : (uint32_t)size;
		if (log_buf) {
			log_buf[0] = 0;
			attr.btf_log_buf = (uint64_t)(uintptr_t)log_buf;
			attr.btf_log_size = log_size;
			attr.btf_log_level = LOG_LEVEL1;
		}
		fd = syscall(__NR_bpf, CMD_BTF_LOAD, &attr, sizeof(attr));
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSPC || !log_buf || strnlen(log_buf, log_size) + 1 < log_size)
			return -errno;
		/* The log filled up: the verdict is unknown. Retry with a larger log. */
		if (log_size >= LOG_MAX) {
			fprintf(stderr, "btf_load: log still full at %u bytes\n", log_size);
			return -ENOSPC;
		}
		if (!log_alloc(log_size > LOG_MAX / 2 ? LOG_MAX : log_size * 2)) {
			fprintf(stderr, "btf_load: cannot map a larger log: %s\n", strerror(errno));
			log_alloc(LOG_DEFAULT);
			return -ENOSPC;
		}
		if (verbose)
			fprintf(stderr, "btf_load: log full, retrying with %u bytes\n", log_size);
	}
}

static void put_name(const char *name)
{
	size_t i;

	for (i = 0; name[i]; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c >= 0x7f || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

/* Reads a whole file into a new buffer; returns NULL with errno set on failure. */
static unsigned char *read_all(const char *path, size_t *size)
{
	struct stat st;
	unsigned char *data = NULL;
	size_t got = 0;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		goto fail;
	data = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!data)
		goto fail;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, data + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			goto fail;
		}
		got += (size_t)r;
	}
	close(fd);
	*size = got;
	return data;
fail:
	saved = errno;
	free(data);
	close(fd);
	errno = saved;
	return NULL;
}

static void load_file(const char *path, const char *name)
{
	unsigned char *data, *flat = NULL;
	const char *why = NULL;
	size_t size = 0;
	int res;

	n_total++;
	data = read_all(path, &size);
	if (!data) {
		why = strerror(errno);
	} else if (base_data) {
		flat = flatten(data, size, &size, &why);
		free(data);
		data = flat;
	}
	fputs("BTFLOAD ", stdout);
	put_name(name);
	if (!data) {
		/* Not a kernel verdict: the blob never reached the kernel. */
		n_bad++;
		fputs(" bad why=", stdout);
		put_clean(why, strlen(why));
		putchar('\n');
		return;
	}
	res = btf_load(data, size);
	if (res >= 0) {
		n_ok++;
		printf(" ok fd=%d\n", res);
		close(res);
	} else {
		n_err++;
		printf(" err=%s(%d) log=", errno_name(-res), -res);
		if (log_buf)
			put_log_tail();
		putchar('\n');
	}
	free(data);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, i;

	if (!d) {
		fprintf(stderr, "btf_load: %s: %s\n", dir, strerror(errno));
		n_bad++;
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **p;

			cap = cap ? cap * 2 : 256;
			p = realloc(names, cap * sizeof(*names));
			if (!p) {
				fprintf(stderr, "btf_load: out of memory listing %s\n", dir);
				exit(2);
			}
			names = p;
		}
		names[n] = strdup(e->d_name);
		if (!names[n]) {
			fprintf(stderr, "btf_load: out of memory listing %s\n", dir);
			exit(2);
		}
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	for (i = 0; i < n; i++) {
		char *path;
		struct stat st;

		if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
			fprintf(stderr, "btf_load: out of memory\n");
			exit(2);
		}
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			load_file(path, names[i]);
		free(path);
		free(names[i]);
	}
	free(names);
}

static void usage(void)
{
	fputs("usage: btf_load [-b BASE] [-n LINES] [-s LOG_BYTES] [-v] PATH...\n"
	      "  loads each raw BTF blob (or each file of a directory) with BPF_BTF_LOAD\n"
	      "  -b BASE       the blobs are split BTF on BASE: load each flattened onto it\n"
	      "  -n LINES      log lines quoted per failure (default 3)\n"
	      "  -s LOG_BYTES  initial verifier log size (default 16 MiB; 0: no log)\n"
	      "  -v            say on stderr when the log is enlarged\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long initial = LOG_DEFAULT;
	int opt, i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "b:n:s:v")) != -1) {
		switch (opt) {
		case 'b':
			base_data = read_all(optarg, &base_size);
			if (!base_data) {
				fprintf(stderr, "btf_load: %s: %s\n", optarg, strerror(errno));
				return 2;
			}
			break;
		case 'n':
			tail_lines = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 's':
			initial = strtoul(optarg, NULL, 0);
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	if (initial) {
		if (initial < 128)
			initial = 128;
		if (initial > LOG_MAX)
			initial = LOG_MAX;
		if (!log_alloc((uint32_t)initial)) {
			fprintf(stderr, "btf_load: cannot map a %lu-byte log: %s\n", initial,
				strerror(errno));
			return 2;
		}
	}
	for (i = optind; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			load_dir(argv[i]);
		else
			load_file(argv[i], argv[i]);
	}
	printf("BTFLOAD-END total=%u ok=%u err=%u bad=%u\n", n_total, n_ok, n_err, n_bad);
	return n_err || n_bad ? 1 : 0;
}
