/*
 * A module as it was built against API v1's header: the object it exports
 * is defuse_module_v1 with api_version 1 (its operations never run).  Both
 * hosts must refuse it with a message that says what to do (api_test.py).
 */
#include <stdint.h>

struct v1_module {
	uint32_t api_version;
	uint32_t ops_size;
	const char *name;
	const char *description;
	uint32_t flags;
	const void *ops;
};

/* v1's struct defuse_ops held 36 pointers. */
static const void *const v1_ops[36];

__attribute__((visibility("default")))
const struct v1_module defuse_module_v1 = {
	.api_version = 1,
	.ops_size = sizeof(v1_ops),
	.name = "v1mod",
	.description = "a module built for API v1",
	.flags = 0,
	.ops = v1_ops,
};
