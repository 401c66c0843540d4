/*
 * The oracle of kbtf's dedup tests: runs the system libbpf's btf__dedup on a raw BTF file
 * and writes the raw result.
 *
 *   libbpf_dedup --version
 *   libbpf_dedup IN OUT [BASE]
 *
 * IN is raw BTF; with BASE, IN is split BTF on top of the raw base BTF BASE. The prototypes
 * are declared here so that only the shared library is needed (Debian's libbpf1 package),
 * not libbpf's headers; only functions libbpf 1.1 exports are used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct btf;
struct btf_dedup_opts;
struct btf *btf__parse_raw(const char *path);
struct btf *btf__parse_raw_split(const char *path, struct btf *base_btf);
int btf__dedup(struct btf *btf, const struct btf_dedup_opts *opts);
const void *btf__raw_data(const struct btf *btf, unsigned int *size);
void btf__free(struct btf *btf);
const char *libbpf_version_string(void);

int main(int argc, char **argv)
{
	struct btf *base = NULL, *btf;
	unsigned int out_size;
	const void *out;
	FILE *f;
	int err;

	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("%s\n", libbpf_version_string());
		return 0;
	}
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: %s IN OUT [BASE]\n", argv[0]);
		return 2;
	}
	if (argc == 4) {
		base = btf__parse_raw(argv[3]);
		if (!base) {
			fprintf(stderr, "%s: btf__parse_raw: %s\n", argv[3], strerror(errno));
			return 2;
		}
	}
	btf = base ? btf__parse_raw_split(argv[1], base) : btf__parse_raw(argv[1]);
	if (!btf) {
		fprintf(stderr, "%s: btf__parse_raw: %s\n", argv[1], strerror(errno));
		return 2;
	}
	err = btf__dedup(btf, NULL);
	if (err) {
		fprintf(stderr, "btf__dedup: %s\n", strerror(-err));
		return 1;
	}
	out = btf__raw_data(btf, &out_size);
	f = fopen(argv[2], "wb");
	if (!out || !f || fwrite(out, 1, out_size, f) != out_size || fclose(f)) {
		fprintf(stderr, "%s: cannot write\n", argv[2]);
		return 2;
	}
	btf__free(btf);
	btf__free(base);
	return 0;
}
