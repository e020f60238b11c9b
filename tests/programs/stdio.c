/* stdio: fopen, fprintf, fread, fseek, fclose on a file in a temp dir. */
#include "prog.h"
#include <unistd.h>

int main(void)
{
	char *dir = prog_mkdtemp("stdio");
	char *path, buf[64], *data;
	size_t len = 0, n;
	FILE *f;

	CHECK(asprintf(&path, "%s/data.txt", dir) > 0);

	f = fopen(path, "w");
	CHECK(f);
	for (int i = 0; i < 1000; i++)
		CHECK(fprintf(f, "line %04d\n", i) == 10);
	CHECK(fclose(f) == 0);

	f = fopen(path, "r");
	CHECK(f);
	data = malloc(20000);
	CHECK(data);
	while ((n = fread(data + len, 1, 4096, f)) > 0)
		len += n;
	CHECK(!ferror(f));
	CHECK(len == 10000);
	CHECK(memcmp(data + 9990, "line 0999\n", 10) == 0);
	CHECK(fseek(f, 50, SEEK_SET) == 0);
	CHECK(fgets(buf, sizeof buf, f) && strcmp(buf, "line 0005\n") == 0);
	CHECK(fclose(f) == 0);

	f = fopen(path, "a");
	CHECK(f);
	CHECK(fputs("tail\n", f) >= 0);
	CHECK(fclose(f) == 0);

	CHECK(unlink(path) == 0);
	CHECK(rmdir(dir) == 0);
	free(data);
	free(path);
	free(dir);
	return 0;
}
