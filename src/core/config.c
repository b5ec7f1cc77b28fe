/* config.c — loads the YAML configuration (libyaml document API) into struct config, strictly. */
#include "core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/err.h"
#include "core/hex.h"
#include "proto/dns/dns_config.h"

/*
 * The whole file is loaded into a libyaml document first, then walked once.
 * Every mapping is checked against a table of known keys, so a typo is an
 * error that names the file, the line and the key path, never a silently
 * ignored setting. Anchors and aliases are allowed (a list of seized domains
 * is typically shared by several rules), but every node walked a second time
 * through an alias counts against a small budget: that is how a few hundred
 * bytes of YAML ("billion laughs", or a self-referencing anchor) would
 * otherwise turn into exponential work or an endless walk.
 */

#define CONFIG_MAX_FILE		(4u << 20) /* a config is small; refuse anything huge */
#define CONFIG_MAX_ANSWER_BODY	(1u << 20)
#define CONFIG_MAX_BODY_STORE	32768u /* the prefix must fit in one event record */
#define CONFIG_PATH_MAX		256
#define CONFIG_MAX_ALIAS_VISITS 10000u /* nodes walked again through *aliases */

struct cfgp {
	const char *name;
	yaml_document_t *doc;
	uint8_t *visited;
	size_t n_nodes;
	unsigned alias_visits;
	char path[CONFIG_PATH_MAX];
	size_t path_len;
	char *err;
	size_t errlen;
	struct config *cfg;
	yaml_node_t *families; /* deferred until the listeners are known */
	char families_path[CONFIG_PATH_MAX];
};

static const char *const proto_names[] = {
	[CONFIG_PROTO_HTTP] = "http", [CONFIG_PROTO_TLS] = "tls", [CONFIG_PROTO_DNS] = "dns",
	[CONFIG_PROTO_SMTP] = "smtp", [CONFIG_PROTO_RAW] = "raw",
};

const char *config_proto_name(enum config_proto p)
{
	if ((size_t)p < sizeof proto_names / sizeof proto_names[0] && proto_names[p])
		return proto_names[p];
	return "?";
}

/* --- errors and the key path ------------------------------------------------ */

static size_t node_line(const yaml_node_t *n)
{
	return n ? n->start_mark.line + 1 : 1;
}

__attribute__((format(printf, 3, 4))) static int cfg_err(struct cfgp *p, const yaml_node_t *n,
							 const char *fmt, ...)
{
	if (!p->err || !p->errlen)
		return ERR_CONFIG;
	int w;
	if (p->path_len)
		w = snprintf(p->err, p->errlen, "%s:%zu: %s: ", p->name, node_line(n), p->path);
	else
		w = snprintf(p->err, p->errlen, "%s:%zu: ", p->name, node_line(n));
	size_t off = w < 0 ? 0 : (size_t)w;
	if (off < p->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->err + off, p->errlen - off, fmt, ap);
		va_end(ap);
	}
	return ERR_CONFIG;
}

/* Appends ".key" (or "key" at the top) to the path; returns the length to restore. */
static size_t path_push_key(struct cfgp *p, const char *key)
{
	size_t old = p->path_len;
	int w = snprintf(p->path + old, sizeof p->path - old, "%s%s", old ? "." : "", key);
	if (w > 0)
		p->path_len = old + (size_t)w < sizeof p->path ? old + (size_t)w :
								 sizeof p->path - 1;
	return old;
}

static size_t path_push_index(struct cfgp *p, size_t i)
{
	size_t old = p->path_len;
	int w = snprintf(p->path + old, sizeof p->path - old, "[%zu]", i);
	if (w > 0)
		p->path_len = old + (size_t)w < sizeof p->path ? old + (size_t)w :
								 sizeof p->path - 1;
	return old;
}

static void path_pop(struct cfgp *p, size_t old)
{
	p->path_len = old;
	p->path[old] = '\0';
}

/* --- nodes and scalars -------------------------------------------------------- */

/* Fetches a node by index, charging repeated visits (aliases) to the budget. */
static int enter(struct cfgp *p, int idx, yaml_node_t **out)
{
	yaml_node_t *n = yaml_document_get_node(p->doc, idx);
	if (!n)
		return cfg_err(p, NULL, "internal: missing YAML node");
	size_t i = (size_t)(idx - 1);
	if (i >= p->n_nodes)
		return cfg_err(p, n, "internal: YAML node out of range");
	if (p->visited[i] && ++p->alias_visits > CONFIG_MAX_ALIAS_VISITS)
		return cfg_err(p, n, "too many alias expansions (more than %u)",
			       CONFIG_MAX_ALIAS_VISITS);
	p->visited[i] = 1;
	*out = n;
	return 0;
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_NO_NODE:
		break;
	}
	return "nothing";
}

/* The scalar's text; rejects non-scalars and embedded NUL bytes. */
static int scalar(struct cfgp *p, const yaml_node_t *n, const char **s, size_t *len)
{
	if (n->type != YAML_SCALAR_NODE)
		return cfg_err(p, n, "expected a scalar value, got %s", node_kind(n));
	const char *v = (const char *)n->data.scalar.value;
	size_t l = n->data.scalar.length;
	if (memchr(v, '\0', l))
		return cfg_err(p, n, "value contains a NUL byte");
	*s = v;
	*len = l;
	return 0;
}

/* A plain ~, null or empty scalar: "unset". */
static bool scalar_is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = (const char *)n->data.scalar.value;
	size_t l = n->data.scalar.length;
	return l == 0 || (l == 1 && v[0] == '~') || (l == 4 && !memcmp(v, "null", 4)) ||
	       (l == 4 && !memcmp(v, "Null", 4)) || (l == 4 && !memcmp(v, "NULL", 4));
}

static char *dup_mem(const char *s, size_t len)
{
	char *d = malloc(len + 1);
	if (!d)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

static int get_string(struct cfgp *p, const yaml_node_t *n, char **dst, bool nullable)
{
	if (nullable && scalar_is_null(n)) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, n, &s, &len);
	if (rc)
		return rc;
	if (!len)
		return cfg_err(p, n, "must not be empty");
	char *d = dup_mem(s, len);
	if (!d)
		return cfg_err(p, n, "out of memory");
	free(*dst);
	*dst = d;
	return 0;
}

static bool all_digits(const char *s, size_t len)
{
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Parses exactly `len` decimal digits; false on anything else or overflow. */
static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
	char buf[32];
	if (!all_digits(s, len) || len >= sizeof buf)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (errno || end != buf + len)
		return false;
	*out = (uint64_t)v;
	return true;
}

static int range_err(struct cfgp *p, const yaml_node_t *n, uint64_t min, uint64_t max)
{
	if (min == 1 && max == UINT32_MAX)
		return cfg_err(p, n, "must be > 0 (and at most %u)", UINT32_MAX);
	return cfg_err(p, n, "must be between %llu and %llu", (unsigned long long)min,
		       (unsigned long long)max);
}

static int get_uint(struct cfgp *p, const yaml_node_t *n, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, n, &s, &len);
	if (rc)
		return rc;
	uint64_t v = 0;
	if (!parse_u64(s, len, &v))
		return cfg_err(p, n, "expected a non-negative integer, got \"%.*s\"", (int)len, s);
	if (v < min || v > max)
		return range_err(p, n, min, max);
	*out = v;
	return 0;
}

/*
 * Sizes: a plain integer (bytes) or a number with a binary suffix: K, KiB,
 * M, MiB, G, GiB, T, TiB (all powers of 1024; "KB"/"MB" are refused as
 * ambiguous). An optional B alone means bytes.
 */
static bool parse_size(const char *s, size_t len, uint64_t *out)
{
	size_t d = 0;
	while (d < len && s[d] >= '0' && s[d] <= '9')
		d++;
	uint64_t v = 0;
	if (!parse_u64(s, d, &v))
		return false;
	const char *suf = s + d;
	size_t sl = len - d;
	while (sl && *suf == ' ') {
		suf++;
		sl--;
	}
	unsigned shift;
	if (sl == 0 || (sl == 1 && *suf == 'B')) {
		shift = 0;
	} else {
		switch (*suf) {
		case 'k':
		case 'K':
			shift = 10;
			break;
		case 'm':
		case 'M':
			shift = 20;
			break;
		case 'g':
		case 'G':
			shift = 30;
			break;
		case 't':
		case 'T':
			shift = 40;
			break;
		default:
			return false;
		}
		if (!(sl == 1 || (sl == 2 && suf[1] == 'i') ||
		      (sl == 3 && suf[1] == 'i' && suf[2] == 'B')))
			return false;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

static int get_size(struct cfgp *p, const yaml_node_t *n, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, n, &s, &len);
	if (rc)
		return rc;
	uint64_t v = 0;
	if (!parse_size(s, len, &v))
		return cfg_err(
			p, n,
			"invalid size \"%.*s\" (an integer, or with a suffix K, KiB, M, MiB, "
			"G, GiB, T, TiB; all powers of 1024)",
			(int)len, s);
	if (v < min || v > max)
		return range_err(p, n, min, max);
	*out = v;
	return 0;
}

static int get_bool(struct cfgp *p, const yaml_node_t *n, bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes",
					   "YES",  "on",   "On",   "ON" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No",
					  "NO",	   "off",   "Off",   "OFF" };
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, n, &s, &len);
	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strlen(yes[i]) == len && !memcmp(s, yes[i], len)) {
			*out = true;
			return 0;
		}
		if (strlen(no[i]) == len && !memcmp(s, no[i], len)) {
			*out = false;
			return 0;
		}
	}
	return cfg_err(p, n, "expected true or false, got \"%.*s\"", (int)len, s);
}

/* Decodes hex digits into a new buffer (at least 1 byte allocated, so never NULL on success). */
static int decode_hex(struct cfgp *p, const yaml_node_t *n, const char *s, size_t len,
		      uint8_t **out, size_t *out_len)
{
	if (len % 2)
		return cfg_err(p, n, "hex value has an odd number of digits");
	uint8_t *b = malloc(len / 2 + 1);
	if (!b)
		return cfg_err(p, n, "out of memory");
	for (size_t i = 0; i < len; i += 2) {
		int hi = hex_value((unsigned char)s[i]), lo = hex_value((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0) {
			free(b);
			return cfg_err(p, n, "invalid hex digit in \"%.*s\"", (int)len, s);
		}
		b[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*out = b;
	*out_len = len / 2;
	return 0;
}

/* --- table-driven mappings ------------------------------------------------------ */

enum key_kind {
	K_STR,		/* char *, must be non-empty */
	K_OSTR,		/* char *, ~ / null unsets it */
	K_U32,		/* uint32_t */
	K_SIZE32,	/* uint32_t with size suffixes */
	K_SIZE64,	/* uint64_t with size suffixes */
	K_BOOL,		/* bool */
	K_MATCH,	/* struct config_strmatch, case-sensitive by default */
	K_MATCH_NOCASE, /* struct config_strmatch, case-insensitive by default (hosts, names) */
	K_FN,		/* custom handler */
};

struct key {
	const char *name;
	enum key_kind kind;
	size_t off;
	uint64_t min, max;
	int (*fn)(struct cfgp *p, yaml_node_t *n, void *obj);
};

#define KEY_MAX_PER_MAP 64

static int parse_strmatch(struct cfgp *p, yaml_node_t *n, struct config_strmatch *sm, bool is_host);

static int walk_map(struct cfgp *p, yaml_node_t *n, const struct key *keys, size_t n_keys,
		    void *obj)
{
	if (n->type != YAML_MAPPING_NODE)
		return cfg_err(p, n, "expected a mapping, got %s", node_kind(n));
	uint64_t seen = 0;
	for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *k, *v;
		int rc = enter(p, pair->key, &k);
		if (rc)
			return rc;
		const char *ks = NULL;
		size_t kl = 0;
		if (k->type != YAML_SCALAR_NODE)
			return cfg_err(p, k, "expected a key, got %s", node_kind(k));
		rc = scalar(p, k, &ks, &kl);
		if (rc)
			return rc;
		size_t i;
		for (i = 0; i < n_keys; i++)
			if (strlen(keys[i].name) == kl && !memcmp(keys[i].name, ks, kl))
				break;
		if (i == n_keys)
			return cfg_err(p, k, "unknown key \"%.*s\"", (int)kl, ks);
		if (i < KEY_MAX_PER_MAP) {
			if (seen & (1ull << i))
				return cfg_err(p, k, "duplicate key \"%s\"", keys[i].name);
			seen |= 1ull << i;
		}
		rc = enter(p, pair->value, &v);
		if (rc)
			return rc;

		const struct key *ky = &keys[i];
		char *field = (char *)obj + ky->off;
		uint64_t u = 0;
		size_t old = path_push_key(p, ky->name);
		switch (ky->kind) {
		case K_STR:
		case K_OSTR:
			rc = get_string(p, v, (char **)(void *)field, ky->kind == K_OSTR);
			break;
		case K_U32:
			rc = get_uint(p, v, ky->min, ky->max, &u);
			if (!rc)
				*(uint32_t *)(void *)field = (uint32_t)u;
			break;
		case K_SIZE32:
			rc = get_size(p, v, ky->min, ky->max, &u);
			if (!rc)
				*(uint32_t *)(void *)field = (uint32_t)u;
			break;
		case K_SIZE64:
			rc = get_size(p, v, ky->min, ky->max, &u);
			if (!rc)
				*(uint64_t *)(void *)field = u;
			break;
		case K_BOOL:
			rc = get_bool(p, v, (bool *)(void *)field);
			break;
		case K_MATCH:
		case K_MATCH_NOCASE:
			rc = parse_strmatch(p, v, (struct config_strmatch *)(void *)field,
					    ky->kind == K_MATCH_NOCASE);
			break;
		case K_FN:
			rc = ky->fn(p, v, obj);
			break;
		}
		if (rc)
			return rc;
		path_pop(p, old);
	}
	return 0;
}

/* Calls fn for a scalar, or for each item of a list of scalars (used for "x or a list"). */
static int for_each_scalar(struct cfgp *p, yaml_node_t *n,
			   int (*fn)(struct cfgp *p, yaml_node_t *item, void *ctx), void *ctx)
{
	if (n->type == YAML_SCALAR_NODE)
		return fn(p, n, ctx);
	if (n->type != YAML_SEQUENCE_NODE)
		return cfg_err(p, n, "expected a value or a list, got %s", node_kind(n));
	if (n->data.sequence.items.start == n->data.sequence.items.top)
		return cfg_err(p, n, "empty list");
	size_t i = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++, i++) {
		yaml_node_t *item = NULL;
		size_t old = path_push_index(p, i);
		int rc = enter(p, *it, &item);
		if (!rc && !item)
			rc = ERR_CONFIG;
		if (!rc && item->type != YAML_SCALAR_NODE)
			rc = cfg_err(p, item, "expected a scalar value, got %s", node_kind(item));
		if (!rc)
			rc = fn(p, item, ctx);
		if (rc)
			return rc;
		path_pop(p, old);
	}
	return 0;
}

static size_t seq_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* Grows an array by one element (zeroed); returns the new element or NULL. */
static void *grow(void **arr, size_t *n, size_t elem)
{
	if (*n >= SIZE_MAX / elem - 1)
		return NULL;
	char *a = realloc(*arr, (*n + 1) * elem);
	if (!a)
		return NULL;
	*arr = a;
	memset(a + *n * elem, 0, elem);
	return a + (*n)++ * elem;
}

/* --- top level: sensor, log, eve ------------------------------------------------- */

static int parse_fsync(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config *c = obj;
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, n, &s, &len);
	if (rc)
		return rc;
	if (len == 8 && !memcmp(s, "interval", 8))
		c->fsync = CONFIG_FSYNC_INTERVAL;
	else if (len == 8 && !memcmp(s, "answered", 8))
		c->fsync = CONFIG_FSYNC_ANSWERED;
	else if (len == 4 && !memcmp(s, "none", 4))
		c->fsync = CONFIG_FSYNC_NONE;
	else
		return cfg_err(p, n, "unknown fsync \"%.*s\" (expected interval, answered or none)",
			       (int)len, s);
	return 0;
}

static int parse_log_level(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config *c = obj;
	static const char *const levels[] = { "error", "warn", "info", "debug" };
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, n, &s, &len);
	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		if (strlen(levels[i]) == len && !memcmp(s, levels[i], len))
			return get_string(p, n, &c->log_level, false);
	}
	return cfg_err(p, n, "unknown log_level \"%.*s\" (expected error, warn, info or debug)",
		       (int)len, s);
}

static int parse_sensor_id(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config *c = obj;
	int rc = get_string(p, n, &c->sensor_id, false);
	if (rc)
		return rc;
	if (strlen(c->sensor_id) > 255)
		return cfg_err(p, n, "longer than 255 bytes");
	for (const char *s = c->sensor_id; *s; s++)
		if ((unsigned char)*s < 0x21 || *s == 0x7f)
			return cfg_err(p, n, "must not contain spaces or control characters");
	return 0;
}

static const struct key sensor_keys[] = {
	{ "id", K_FN, 0, 0, 0, parse_sensor_id },
};

static const struct key log_keys[] = {
	{ "dir", K_STR, offsetof(struct config, log_dir), 0, 0, NULL },
	{ "fsync", K_FN, 0, 0, 0, parse_fsync },
	{ "fsync_interval_ms", K_U32, offsetof(struct config, fsync_interval_ms), 1, UINT32_MAX,
	  NULL },
	{ "segment_bytes", K_SIZE64, offsetof(struct config, segment_bytes), 4096,
	  UINT64_C(1) << 40, NULL },
	/* One record (up to EVENT_MAX_LEN) must always fit, with room to spare. */
	{ "ring_bytes", K_SIZE32, offsetof(struct config, ring_bytes), 8 * EVENT_MAX_LEN,
	  UINT32_MAX / 2 + 1, NULL },
	{ "signing_key", K_OSTR, offsetof(struct config, signing_key), 0, 0, NULL },
};

static const struct key eve_keys[] = {
	{ "file", K_OSTR, offsetof(struct config, eve_file), 0, 0, NULL },
};

static int parse_sensor(struct cfgp *p, yaml_node_t *n, void *obj)
{
	return walk_map(p, n, sensor_keys, sizeof sensor_keys / sizeof sensor_keys[0], obj);
}

static int parse_log(struct cfgp *p, yaml_node_t *n, void *obj)
{
	return walk_map(p, n, log_keys, sizeof log_keys / sizeof log_keys[0], obj);
}

static int parse_eve(struct cfgp *p, yaml_node_t *n, void *obj)
{
	return walk_map(p, n, eve_keys, sizeof eve_keys / sizeof eve_keys[0], obj);
}

/* --- store and enrich ------------------------------------------------------------- */

struct strlist_ctx {
	char ***v;
	size_t *n;
};

static int add_strlist_item(struct cfgp *p, yaml_node_t *item, void *ctx)
{
	struct strlist_ctx *l = ctx;
	char **slot = grow((void **)l->v, l->n, sizeof *slot);
	if (!slot)
		return cfg_err(p, item, "out of memory");
	return get_string(p, item, slot, false);
}

static int parse_enrich_asn(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_store *s = obj;
	struct strlist_ctx l = { &s->asn, &s->n_asn };
	return for_each_scalar(p, n, add_strlist_item, &l);
}

static int parse_enrich_country(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_store *s = obj;
	struct strlist_ctx l = { &s->country, &s->n_country };
	return for_each_scalar(p, n, add_strlist_item, &l);
}

static int parse_enrich_contacts(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_store *s = obj;
	struct strlist_ctx l = { &s->contacts, &s->n_contacts };
	return for_each_scalar(p, n, add_strlist_item, &l);
}

static const struct key bot_id_keys[] = {
	{ "family", K_STR, offsetof(struct config_bot_id, family), 0, 0, NULL },
	{ "uri_param", K_STR, offsetof(struct config_bot_id, uri_param), 0, 0, NULL },
	{ "header", K_STR, offsetof(struct config_bot_id, header), 0, 0, NULL },
};

static int parse_bot_ids(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_store *s = obj;
	if (n->type != YAML_SEQUENCE_NODE)
		return cfg_err(p, n, "expected a list, got %s", node_kind(n));
	size_t i = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++, i++) {
		yaml_node_t *item = NULL;
		size_t old = path_push_index(p, i);
		int rc = enter(p, *it, &item);
		if (rc)
			return rc;
		if (!item)
			return ERR_CONFIG;
		struct config_bot_id *b = grow((void **)&s->bot_ids, &s->n_bot_ids, sizeof *b);
		if (!b)
			return cfg_err(p, item, "out of memory");
		rc = walk_map(p, item, bot_id_keys, sizeof bot_id_keys / sizeof bot_id_keys[0], b);
		if (rc)
			return rc;
		if (!b->family)
			return cfg_err(p, item, "family is required");
		if (!b->uri_param == !b->header)
			return cfg_err(p, item, "give exactly one of uri_param and header");
		path_pop(p, old);
	}
	return 0;
}

static const struct key store_keys[] = {
	{ "path", K_OSTR, offsetof(struct config_store, path), 0, 0, NULL },
	{ "bot_ids", K_FN, 0, 0, 0, parse_bot_ids },
};

static const struct key enrich_keys[] = {
	{ "asn", K_FN, 0, 0, 0, parse_enrich_asn },
	{ "country", K_FN, 0, 0, 0, parse_enrich_country },
	{ "contacts", K_FN, 0, 0, 0, parse_enrich_contacts },
};

static int parse_store(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config *c = obj;
	return walk_map(p, n, store_keys, sizeof store_keys / sizeof store_keys[0], &c->store);
}

static int parse_enrich(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config *c = obj;
	return walk_map(p, n, enrich_keys, sizeof enrich_keys / sizeof enrich_keys[0], &c->store);
}

/* --- metrics ------------------------------------------------------------------- */

static int parse_metrics_listen(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_metrics *m = obj;
	int rc = get_string(p, n, &m->listen, false);
	if (rc)
		return rc;
	if (config_parse_sockaddr(m->listen, &m->addr, &m->addr_len))
		return cfg_err(p, n, "invalid address \"%s\" (expected ip:port or [ipv6]:port)",
			       m->listen);
	return 0;
}

static const struct key metrics_keys[] = {
	{ "listen", K_FN, 0, 0, 0, parse_metrics_listen },
};

static int parse_metrics(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config *c = obj;
	return walk_map(p, n, metrics_keys, sizeof metrics_keys / sizeof metrics_keys[0],
			&c->metrics);
}

/* The port of an address, and whether it is the wildcard (0.0.0.0 or ::). */
static uint16_t sockaddr_port(const struct sockaddr_storage *ss, bool *wildcard)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		*wildcard = IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
		return ntohs(s6->sin6_port);
	}
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
	*wildcard = s4->sin_addr.s_addr == htonl(INADDR_ANY);
	return ntohs(s4->sin_port);
}

/* True when sockets bound to a and b would take the same connections. */
static bool sockaddr_overlap(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	bool wa, wb;
	if (sockaddr_port(a, &wa) != sockaddr_port(b, &wb))
		return false;
	if (wa || wb)
		return true;
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr,
			       sizeof(struct in6_addr));
	return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
	       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
}

/* --- listeners ------------------------------------------------------------------ */

static int proto_from_name(const char *s, size_t len)
{
	for (int i = CONFIG_PROTO_HTTP; i <= CONFIG_PROTO_RAW; i++)
		if (strlen(proto_names[i]) == len && !memcmp(s, proto_names[i], len))
			return i;
	return 0;
}

static int parse_listener_proto(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_listener *l = obj;
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, n, &s, &len);
	if (rc)
		return rc;
	int proto = proto_from_name(s, len);
	if (!proto)
		return cfg_err(p, n,
			       "unknown proto \"%.*s\" (expected http, tls, dns, smtp or raw)",
			       (int)len, s);
	if (proto != CONFIG_PROTO_HTTP && proto != CONFIG_PROTO_TLS && proto != CONFIG_PROTO_RAW &&
	    proto != CONFIG_PROTO_DNS && proto != CONFIG_PROTO_SMTP)
		return cfg_err(p, n, "proto %s is not supported by this build yet",
			       proto_names[proto]);
	l->proto = (enum config_proto)proto;
	return 0;
}

static int parse_listener_addr(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_listener *l = obj;
	int rc = get_string(p, n, &l->addr_text, false);
	if (rc)
		return rc;
	if (config_parse_sockaddr(l->addr_text, &l->addr, &l->addr_len))
		return cfg_err(p, n, "invalid address \"%s\" (expected ip:port or [ipv6]:port)",
			       l->addr_text);
	return 0;
}

static int add_cidr(struct cfgp *p, yaml_node_t *item, void *ctx)
{
	struct config_listener *l = ctx;
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, item, &s, &len);
	if (rc)
		return rc;
	struct config_cidr *c =
		grow((void **)&l->trusted_proxies, &l->n_trusted_proxies, sizeof *c);
	if (!c)
		return cfg_err(p, item, "out of memory");
	rc = config_parse_cidr(s, c);
	if (rc == ERR_INVAL)
		return cfg_err(p, item, "\"%s\" has bits set beyond the /%u prefix", s,
			       (unsigned)c->prefix_len);
	if (rc)
		return cfg_err(p, item,
			       "invalid address prefix \"%s\" (expected 192.0.2.0/24, "
			       "2001:db8::/32 or an address)",
			       s);
	return 0;
}

static int parse_trusted_proxies(struct cfgp *p, yaml_node_t *n, void *obj)
{
	return for_each_scalar(p, n, add_cidr, obj);
}

static const struct key limit_keys[] = {
	{ "max_header_bytes", K_SIZE32, offsetof(struct config_http_limits, max_header_bytes), 1,
	  64u << 10, NULL },
	{ "max_headers", K_U32, offsetof(struct config_http_limits, max_headers), 1, 4096, NULL },
	{ "max_body_bytes", K_SIZE64, offsetof(struct config_http_limits, max_body_bytes), 1,
	  UINT64_MAX, NULL },
	{ "body_store_bytes", K_SIZE32, offsetof(struct config_http_limits, body_store_bytes), 0,
	  CONFIG_MAX_BODY_STORE, NULL },
	{ "header_timeout_ms", K_U32, offsetof(struct config_http_limits, header_timeout_ms), 1,
	  UINT32_MAX, NULL },
	{ "idle_timeout_ms", K_U32, offsetof(struct config_http_limits, idle_timeout_ms), 1,
	  UINT32_MAX, NULL },
	{ "max_requests_per_conn", K_U32,
	  offsetof(struct config_http_limits, max_requests_per_conn), 1, UINT32_MAX, NULL },
};

static int parse_limits(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_listener *l = obj;
	return walk_map(p, n, limit_keys, sizeof limit_keys / sizeof limit_keys[0], &l->http);
}

static const struct key smtp_keys[] = {
	{ "hostname", K_STR, offsetof(struct config_smtp, hostname), 0, 0, NULL },
	{ "max_line_bytes", K_SIZE32, offsetof(struct config_smtp, max_line_bytes), 512, 64u << 10,
	  NULL },
	{ "max_recipients", K_U32, offsetof(struct config_smtp, max_recipients), 1, 100000, NULL },
	{ "max_message_bytes", K_SIZE64, offsetof(struct config_smtp, max_message_bytes), 1024,
	  UINT64_C(1) << 40, NULL },
	{ "max_commands", K_U32, offsetof(struct config_smtp, max_commands), 1, UINT32_MAX, NULL },
	{ "max_transactions", K_U32, offsetof(struct config_smtp, max_transactions), 1, UINT32_MAX,
	  NULL },
	{ "max_errors", K_U32, offsetof(struct config_smtp, max_errors), 1, UINT32_MAX, NULL },
	{ "campaign_threshold", K_U32, offsetof(struct config_smtp, campaign_threshold), 1, 100,
	  NULL },
	{ "campaign_slots", K_U32, offsetof(struct config_smtp, campaign_slots), 1, 16384, NULL },
	{ "sample_dir", K_OSTR, offsetof(struct config_smtp, sample_dir), 0, 0, NULL },
	{ "sample_max_bytes", K_SIZE64, offsetof(struct config_smtp, sample_max_bytes), 1,
	  UINT64_C(1) << 32, NULL },
	{ "sample_retention_days", K_U32, offsetof(struct config_smtp, sample_retention_days), 1,
	  36500, NULL },
	{ "starttls", K_BOOL, offsetof(struct config_smtp, starttls), 0, 0, NULL },
};

static int parse_smtp(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_listener *l = obj;
	return walk_map(p, n, smtp_keys, sizeof smtp_keys / sizeof smtp_keys[0], &l->smtp);
}

void config_smtp_default(struct config_smtp *s)
{
	s->max_line_bytes = 2048;
	s->max_recipients = 100;
	s->max_message_bytes = 10u << 20;
	s->max_commands = 1000;
	s->max_transactions = 1000;
	s->max_errors = 20;
	s->campaign_threshold = 60;
	s->campaign_slots = 1024;
	s->sample_max_bytes = 1u << 20;
	s->sample_retention_days = 30;
}

/* "hex:0a0b" or plain text: a byte string (at least one byte allocated on success). */
static int get_bytes(struct cfgp *p, yaml_node_t *n, uint8_t **out, size_t *out_len)
{
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, n, &s, &len);
	if (rc)
		return rc;
	if (len >= 4 && !memcmp(s, "hex:", 4))
		return decode_hex(p, n, s + 4, len - 4, out, out_len);
	*out = (uint8_t *)dup_mem(s, len);
	if (!*out)
		return cfg_err(p, n, "out of memory");
	*out_len = len;
	return 0;
}

/* A port "80" / 80 or a range "1024-65535" (inclusive); "all" is 1-65535. */
static int get_port_range(struct cfgp *p, yaml_node_t *n, struct config_port_range *r)
{
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, n, &s, &len);
	if (rc)
		return rc;
	if (len == 3 && !memcmp(s, "all", 3)) {
		r->lo = 1;
		r->hi = 65535;
		return 0;
	}
	const char *dash = memchr(s, '-', len);
	size_t l1 = dash ? (size_t)(dash - s) : len;
	uint64_t lo = 0, hi = 0;
	if (!parse_u64(s, l1, &lo) || (dash && !parse_u64(dash + 1, len - l1 - 1, &hi)))
		return cfg_err(p, n, "invalid port or range \"%.*s\" (expected 80 or 1024-65535)",
			       (int)len, s);
	if (!dash)
		hi = lo;
	if (lo < 1 || hi > 65535 || lo > hi)
		return cfg_err(p, n, "port range \"%.*s\" is not within 1-65535 in order", (int)len,
			       s);
	r->lo = (uint16_t)lo;
	r->hi = (uint16_t)hi;
	return 0;
}

/* A growing list of port ranges, filled by add_port_range from a scalar or a list. */
struct port_list {
	struct config_port_range **arr;
	size_t *n;
};

static int add_port_range(struct cfgp *p, yaml_node_t *item, void *ctx)
{
	struct port_list *pl = ctx;
	struct config_port_range *r = grow((void **)pl->arr, pl->n, sizeof *r);
	if (!r)
		return cfg_err(p, item, "out of memory");
	return get_port_range(p, item, r);
}

static int parse_listener_ports(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_listener *l = obj;
	struct port_list pl = { &l->ports, &l->n_ports };
	return for_each_scalar(p, n, add_port_range, &pl);
}

static int add_seized(struct cfgp *p, yaml_node_t *item, void *ctx)
{
	struct config_listener *l = ctx;
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, item, &s, &len);
	if (rc)
		return rc;
	char text[64];
	struct event_addr *a = grow((void **)&l->seized, &l->n_seized, sizeof *a);
	if (!a)
		return cfg_err(p, item, "out of memory");
	if (len >= sizeof text)
		return cfg_err(p, item, "invalid address \"%.*s\"", (int)len, s);
	memcpy(text, s, len);
	text[len] = '\0';
	if (event_addr_parse(text, a) != 0)
		return cfg_err(p, item, "invalid address \"%s\" (expected an IPv4 or IPv6 address)",
			       text);
	return 0;
}

static int parse_listener_seized(struct cfgp *p, yaml_node_t *n, void *obj)
{
	return for_each_scalar(p, n, add_seized, obj);
}

static int parse_listener_redirect(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_listener *l = obj;
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, n, &s, &len);
	if (rc)
		return rc;
	if (len == 3 && !memcmp(s, "nat", 3))
		l->redirect = CONFIG_REDIRECT_NAT;
	else if (len == 6 && !memcmp(s, "tproxy", 6))
		l->redirect = CONFIG_REDIRECT_TPROXY;
	else
		return cfg_err(p, n, "unknown redirect \"%.*s\" (expected nat or tproxy)", (int)len,
			       s);
	return 0;
}

static int parse_listener_defer(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_listener *l = obj;
	l->defer_accept_set = true;
	return get_bool(p, n, &l->defer_accept);
}

static int parse_raw_banner(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_raw *r = obj;
	if (r->banner)
		return cfg_err(p, n, "banner given twice");
	int rc = get_bytes(p, n, &r->banner, &r->banner_len);
	if (!rc && r->banner_len > 65536)
		return cfg_err(p, n, "banner longer than 65536 bytes");
	return rc;
}

static int parse_raw_transport(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_raw *r = obj;
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, n, &s, &len);
	if (rc)
		return rc;
	bool tcp = len == 3 && !memcmp(s, "tcp", 3), udp = len == 3 && !memcmp(s, "udp", 3);
	bool both = len == 4 && !memcmp(s, "both", 4);
	if (!tcp && !udp && !both)
		return cfg_err(p, n, "unknown transport \"%.*s\" (expected tcp, udp or both)",
			       (int)len, s);
	r->tcp = tcp || both;
	r->udp = udp || both;
	return 0;
}

static const struct key raw_keys[] = {
	{ "capture_bytes", K_SIZE32, offsetof(struct config_raw, capture_bytes), 1, 65536, NULL },
	{ "timeout_ms", K_U32, offsetof(struct config_raw, timeout_ms), 1, UINT32_MAX, NULL },
	{ "banner", K_FN, 0, 0, 0, parse_raw_banner },
	{ "handover", K_BOOL, offsetof(struct config_raw, handover), 0, 0, NULL },
	{ "transport", K_FN, 0, 0, 0, parse_raw_transport },
	{ "udp_rate", K_U32, offsetof(struct config_raw, udp_rate), 1, UINT32_MAX, NULL },
};

static int parse_listener_raw(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_listener *l = obj;
	l->raw_set = true;
	return walk_map(p, n, raw_keys, sizeof raw_keys / sizeof raw_keys[0], &l->raw);
}

/* Checks of the raw and any-port keys once a listener is read whole. */
static int listener_check_raw(struct cfgp *p, yaml_node_t *item, struct config_listener *l)
{
	if (l->proto != CONFIG_PROTO_RAW && l->raw_set)
		return cfg_err(p, item, "key \"raw\" is only for proto raw listeners");
	if (l->proto == CONFIG_PROTO_RAW && l->proxy_protocol)
		return cfg_err(p, item, "proxy_protocol is not supported on raw listeners");
	if (l->proto == CONFIG_PROTO_RAW) {
		/* Silent peers and banner-first protocols must be seen at once, not after the defer. */
		if (!l->defer_accept_set)
			l->defer_accept = false;
		/* A stream handed to HTTP keeps the listener's one request timer list. */
		l->http.header_timeout_ms = l->raw.timeout_ms;
	}
	if (!l->n_ports) {
		if (l->redirect || l->n_seized)
			return cfg_err(p, item, "\"redirect\" and \"seized\" need \"ports\"");
		return 0;
	}
	if (!l->redirect)
		l->redirect = CONFIG_REDIRECT_NAT;
	if (!l->n_seized) {
		struct event_addr a;
		memset(&a, 0, sizeof a);
		const struct sockaddr_storage *ss = &l->addr;
		if (ss->ss_family == AF_INET) {
			a.ipver = 4;
			memcpy(a.addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		} else {
			a.ipver = 6;
			memcpy(a.addr, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
		}
		static const uint8_t zero[16];
		if (!memcmp(a.addr, zero, 16))
			return cfg_err(p, item,
				       "\"ports\" on a wildcard address needs \"seized\": the "
				       "addresses whose ports are captured");
		struct event_addr *s = grow((void **)&l->seized, &l->n_seized, sizeof *s);
		if (!s)
			return cfg_err(p, item, "out of memory");
		*s = a;
	}
	return 0;
}

/* --- the tls: block (proto tls) ------------------------------------------------- */

static int add_cert_name(struct cfgp *p, yaml_node_t *item, void *ctx)
{
	struct config_tls_cert *ct = ctx;
	char **slot = grow((void **)&ct->names, &ct->n_names, sizeof *slot);
	if (!slot)
		return cfg_err(p, item, "out of memory");
	int rc = get_string(p, item, slot, false);
	if (rc)
		return rc;
	for (const char *c = *slot; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return cfg_err(p, item, "name \"%s\" contains spaces or control characters",
				       *slot);
	return 0;
}

static int parse_cert_names(struct cfgp *p, yaml_node_t *n, void *obj)
{
	return for_each_scalar(p, n, add_cert_name, obj);
}

static const struct key tls_cert_keys[] = {
	{ "cert", K_STR, offsetof(struct config_tls_cert, cert_file), 0, 0, NULL },
	{ "key", K_STR, offsetof(struct config_tls_cert, key_file), 0, 0, NULL },
	{ "names", K_FN, 0, 0, 0, parse_cert_names },
};

static int parse_tls_certs(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_tls *t = obj;
	if (n->type != YAML_SEQUENCE_NODE)
		return cfg_err(p, n, "expected a list of certificates, got %s", node_kind(n));
	for (size_t i = 0; i < seq_len(n); i++) {
		yaml_node_t *item = NULL;
		size_t old = path_push_index(p, i);
		int rc = enter(p, n->data.sequence.items.start[i], &item);
		struct config_tls_cert *ct = rc ? NULL :
						  grow((void **)&t->certs, &t->n_certs, sizeof *ct);
		if (!rc && !ct)
			rc = cfg_err(p, item, "out of memory");
		if (!rc)
			rc = walk_map(p, item, tls_cert_keys,
				      sizeof tls_cert_keys / sizeof tls_cert_keys[0], ct);
		if (!rc && !ct->cert_file)
			rc = cfg_err(p, item, "missing key \"cert\"");
		if (rc)
			return rc;
		path_pop(p, old);
	}
	return 0;
}

static int parse_tls_version(struct cfgp *p, yaml_node_t *n, uint16_t *out)
{
	static const char *const names[] = { "1.0", "1.1", "1.2", "1.3" };
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, n, &s, &len);
	if (rc)
		return rc;
	for (unsigned i = 0; i < 4; i++)
		if (len == 3 && !memcmp(s, names[i], 3)) {
			*out = (uint16_t)(0x0301 + i);
			return 0;
		}
	return cfg_err(p, n, "unknown TLS version \"%.*s\" (expected 1.0, 1.1, 1.2 or 1.3)",
		       (int)len, s);
}

static int parse_tls_min(struct cfgp *p, yaml_node_t *n, void *obj)
{
	return parse_tls_version(p, n, &((struct config_tls *)obj)->min_version);
}

static int parse_tls_max(struct cfgp *p, yaml_node_t *n, void *obj)
{
	return parse_tls_version(p, n, &((struct config_tls *)obj)->max_version);
}

static const struct key tls_keys[] = {
	{ "certs", K_FN, 0, 0, 0, parse_tls_certs },
	{ "self_signed", K_BOOL, offsetof(struct config_tls, self_signed), 0, 0, NULL },
	{ "min_version", K_FN, 0, 0, 0, parse_tls_min },
	{ "max_version", K_FN, 0, 0, 0, parse_tls_max },
	{ "session_tickets", K_BOOL, offsetof(struct config_tls, session_tickets), 0, 0, NULL },
	{ "session_cache", K_BOOL, offsetof(struct config_tls, session_cache), 0, 0, NULL },
	{ "ciphers", K_STR, offsetof(struct config_tls, ciphers), 0, 0, NULL },
	{ "ciphersuites", K_STR, offsetof(struct config_tls, ciphersuites), 0, 0, NULL },
	{ "max_hello_bytes", K_SIZE32, offsetof(struct config_tls, max_hello_bytes), 16u << 10,
	  192u << 10, NULL },
};

static int parse_listener_tls(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_listener *l = obj;
	return walk_map(p, n, tls_keys, sizeof tls_keys / sizeof tls_keys[0], &l->tls);
}

void config_tls_default(struct config_tls *t)
{
	t->self_signed = true;
	t->min_version = 0x0301;
	t->max_version = 0x0304;
	t->session_tickets = true;
	t->session_cache = true;
	t->max_hello_bytes = 64u << 10;
}

static void tls_free(struct config_tls *t)
{
	for (size_t i = 0; i < t->n_certs; i++) {
		free(t->certs[i].cert_file);
		free(t->certs[i].key_file);
		for (size_t j = 0; j < t->certs[i].n_names; j++)
			free(t->certs[i].names[j]);
		free(t->certs[i].names);
	}
	free(t->certs);
	free(t->ciphers);
	free(t->ciphersuites);
}

static const struct key listener_keys[] = {
	{ "proto", K_FN, 0, 0, 0, parse_listener_proto },
	{ "addr", K_FN, 0, 0, 0, parse_listener_addr },
	{ "name", K_STR, offsetof(struct config_listener, name), 0, 0, NULL },
	{ "proxy_protocol", K_BOOL, offsetof(struct config_listener, proxy_protocol), 0, 0, NULL },
	{ "defer_accept", K_FN, 0, 0, 0, parse_listener_defer },
	{ "trusted_proxies", K_FN, 0, 0, 0, parse_trusted_proxies },
	{ "max_connections", K_U32, offsetof(struct config_listener, max_connections), 1,
	  UINT32_MAX, NULL },
	{ "limits", K_FN, 0, 0, 0, parse_limits },
	{ "smtp", K_FN, 0, 0, 0, parse_smtp },
	{ "tls", K_FN, 0, 0, 0, parse_listener_tls },
	{ "raw", K_FN, 0, 0, 0, parse_listener_raw },
	{ "ports", K_FN, 0, 0, 0, parse_listener_ports },
	{ "seized", K_FN, 0, 0, 0, parse_listener_seized },
	{ "redirect", K_FN, 0, 0, 0, parse_listener_redirect },
};

void config_http_limits_default(struct config_http_limits *l)
{
	l->max_header_bytes = 8192;
	l->max_headers = 64;
	l->max_body_bytes = 16u << 20;
	l->body_store_bytes = 256;
	l->header_timeout_ms = 10000;
	l->idle_timeout_ms = 30000;
	l->max_requests_per_conn = 1000;
}

static bool valid_name(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x21 || c == 0x7f)
			return false;
	}
	return true;
}

/*
 * An SMTP server speaks first, so TCP_DEFER_ACCEPT would hold every session
 * until the client gave up: it is always off there. `smtp:` belongs to smtp
 * listeners only, so a misplaced block is an error, not silently ignored.
 */
static int config_smtp_check(struct cfgp *p, yaml_node_t *item, struct config_listener *l)
{
	struct config_smtp *s = &l->smtp;
	if (l->proto != CONFIG_PROTO_SMTP) {
		for (yaml_node_pair_t *pair = item->data.mapping.pairs.start;
		     pair < item->data.mapping.pairs.top; pair++) {
			yaml_node_t *k = yaml_document_get_node(p->doc, pair->key);
			if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == 4 &&
			    !memcmp(k->data.scalar.value, "smtp", 4))
				return cfg_err(p, k, "key \"smtp\" is for proto smtp listeners");
		}
		return 0;
	}
	if (l->defer_accept_set && l->defer_accept)
		return cfg_err(p, item,
			       "defer_accept cannot be on for smtp: the server speaks first");
	l->defer_accept = false;
	if (!s->hostname) {
		s->hostname = dup_mem("mx.sinkhole.invalid", 19);
		if (!s->hostname)
			return cfg_err(p, item, "out of memory");
	}
	for (const char *c = s->hostname; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return cfg_err(p, item,
				       "smtp.hostname must not contain spaces or controls");
	/* The connection's input buffer (sized by max_header_bytes) must hold one command line. */
	if (l->http.max_header_bytes < s->max_line_bytes)
		l->http.max_header_bytes = s->max_line_bytes;
	return 0;
}

static int parse_listeners(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config *c = obj;
	if (n->type != YAML_SEQUENCE_NODE)
		return cfg_err(p, n, "expected a list of listeners, got %s", node_kind(n));
	size_t count = seq_len(n);
	if (!count)
		return cfg_err(p, n, "at least one listener is required");
	c->listeners = calloc(count, sizeof *c->listeners);
	if (!c->listeners)
		return cfg_err(p, n, "out of memory");
	c->n_listeners = count;
	for (size_t i = 0; i < count; i++) {
		struct config_listener *l = &c->listeners[i];
		yaml_node_t *item = NULL;
		size_t old = path_push_index(p, i);
		int rc = enter(p, n->data.sequence.items.start[i], &item);
		if (rc)
			return rc;
		l->max_connections = 100000;
		l->defer_accept = true;
		config_http_limits_default(&l->http);
		config_smtp_default(&l->smtp);
		config_tls_default(&l->tls);
		l->raw.capture_bytes = 4096;
		l->raw.timeout_ms = 5000;
		l->raw.handover = true;
		l->raw.tcp = l->raw.udp = true;
		l->raw.udp_rate = 20;
		rc = walk_map(p, item, listener_keys,
			      sizeof listener_keys / sizeof listener_keys[0], l);
		if (rc)
			return rc;
		if (!l->proto)
			return cfg_err(p, item, "missing key \"proto\"");
		rc = config_smtp_check(p, item, l);
		if (rc)
			return rc;
		if (!l->addr_text)
			return cfg_err(p, item, "missing key \"addr\"");
		if (l->tls.min_version > l->tls.max_version)
			return cfg_err(p, item, "tls.min_version is above tls.max_version");
		rc = listener_check_raw(p, item, l);
		if (rc)
			return rc;
		if (l->http.body_store_bytes > l->http.max_body_bytes)
			return cfg_err(p, item,
				       "limits.body_store_bytes exceeds limits.max_body_bytes");
		if (!l->name) {
			size_t nl = strlen(l->addr_text) + 8;
			l->name = malloc(nl);
			if (!l->name)
				return cfg_err(p, item, "out of memory");
			snprintf(l->name, nl, "%s-%s", config_proto_name(l->proto), l->addr_text);
		} else if (!valid_name(l->name)) {
			return cfg_err(p, item,
				       "name \"%s\" must not contain spaces or control "
				       "characters",
				       l->name);
		}
		for (size_t j = 0; j < i; j++) {
			const struct config_listener *o = &c->listeners[j];
			if (!strcmp(o->name, l->name))
				return cfg_err(p, item,
					       "duplicate listener name \"%s\" (also "
					       "listen[%zu])",
					       l->name, j);
			if (o->addr_len == l->addr_len && !memcmp(&o->addr, &l->addr, l->addr_len))
				return cfg_err(p, item,
					       "address %s is already used by listener "
					       "\"%s\"",
					       l->addr_text, o->name);
		}
		path_pop(p, old);
	}
	return 0;
}

/* --- answers -------------------------------------------------------------------- */

static int parse_status(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_answer *a = obj;
	uint64_t v = 0;
	int rc = get_uint(p, n, 100, 599, &v);
	if (rc)
		return rc;
	a->status = (uint16_t)v;
	return 0;
}

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool ascii_ieq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = *a, y = *b;
		if (x >= 'A' && x <= 'Z')
			x = (char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (char)(y + 32);
		if (x != y)
			return false;
	}
	return *a == *b;
}

static int parse_headers(struct cfgp *p, yaml_node_t *n, void *obj)
{
	/* Framing headers are sinkd's: a wrong Content-Length would desync keep-alive. */
	static const char *const reserved[] = { "content-length", "transfer-encoding",
						"connection" };
	struct config_answer *a = obj;
	if (n->type != YAML_MAPPING_NODE)
		return cfg_err(p, n, "expected a mapping of header names to values, got %s",
			       node_kind(n));
	for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *k, *v;
		int rc = enter(p, pair->key, &k);
		if (!rc)
			rc = enter(p, pair->value, &v);
		if (rc)
			return rc;
		struct config_header *h = grow((void **)&a->headers, &a->n_headers, sizeof *h);
		if (!h)
			return cfg_err(p, k, "out of memory");
		rc = get_string(p, k, &h->name, false);
		if (rc)
			return rc;
		for (const char *s = h->name; *s; s++)
			if (!is_tchar((unsigned char)*s))
				return cfg_err(p, k, "invalid header name \"%s\"", h->name);
		for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
			if (ascii_ieq(h->name, reserved[i]))
				return cfg_err(p, k, "header \"%s\" is set by sinkd itself",
					       h->name);
		for (size_t i = 0; i + 1 < a->n_headers; i++)
			if (ascii_ieq(a->headers[i].name, h->name))
				return cfg_err(p, k, "duplicate header \"%s\"", h->name);
		if (scalar_is_null(v)) {
			h->value = dup_mem("", 0);
			if (!h->value)
				return cfg_err(p, v, "out of memory");
			continue;
		}
		const char *s = NULL;
		size_t len = 0;
		rc = scalar(p, v, &s, &len);
		if (rc)
			return rc;
		for (size_t i = 0; i < len; i++) {
			unsigned char ch = (unsigned char)s[i];
			if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
				return cfg_err(p, v,
					       "header \"%s\": value contains a control "
					       "character",
					       h->name);
		}
		h->value = dup_mem(s, len);
		if (!h->value)
			return cfg_err(p, v, "out of memory");
	}
	return 0;
}

/* The scalar of `body` or `body_hex` (null = empty); the two keys exclude each other. */
static int body_scalar(struct cfgp *p, yaml_node_t *n, const struct config_answer *a,
		       const char **s, size_t *len)
{
	if (a->body)
		return cfg_err(p, n, "body and body_hex are mutually exclusive");
	*s = "";
	*len = 0;
	return scalar_is_null(n) ? 0 : scalar(p, n, s, len);
}

static int parse_body(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_answer *a = obj;
	const char *s = NULL;
	size_t len = 0;
	int rc = body_scalar(p, n, a, &s, &len);
	if (rc)
		return rc;
	if (len > CONFIG_MAX_ANSWER_BODY)
		return cfg_err(p, n, "answer body longer than %u bytes", CONFIG_MAX_ANSWER_BODY);
	a->body = (uint8_t *)dup_mem(s, len);
	if (!a->body)
		return cfg_err(p, n, "out of memory");
	a->body_len = len;
	return 0;
}

static int parse_body_hex(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_answer *a = obj;
	const char *s = NULL;
	size_t len = 0;
	int rc = body_scalar(p, n, a, &s, &len);
	if (rc)
		return rc;
	if (len / 2 > CONFIG_MAX_ANSWER_BODY)
		return cfg_err(p, n, "answer body longer than %u bytes", CONFIG_MAX_ANSWER_BODY);
	return decode_hex(p, n, s, len, &a->body, &a->body_len);
}

static const struct key answer_keys[] = {
	{ "status", K_FN, 0, 0, 0, parse_status },
	{ "headers", K_FN, 0, 0, 0, parse_headers },
	{ "body", K_FN, 0, 0, 0, parse_body },
	{ "body_hex", K_FN, 0, 0, 0, parse_body_hex },
};

static int parse_answer_into(struct cfgp *p, yaml_node_t *n, struct config_answer *a)
{
	int rc = walk_map(p, n, answer_keys, sizeof answer_keys / sizeof answer_keys[0], a);
	if (rc)
		return rc;
	if (a->body_len && (a->status < 200 || a->status == 204 || a->status == 304))
		return cfg_err(p, n, "status %u must not carry a body", (unsigned)a->status);
	return 0;
}

static int parse_default_answer(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config *c = obj;
	return parse_answer_into(p, n, &c->default_answer);
}

/* --- families and their match --------------------------------------------------- */

static int add_listener_ref(struct cfgp *p, yaml_node_t *item, void *ctx)
{
	struct config_match *m = ctx;
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, item, &s, &len);
	if (rc)
		return rc;
	size_t i;
	for (i = 0; i < p->cfg->n_listeners; i++)
		if (!strcmp(p->cfg->listeners[i].name, s))
			break;
	if (i == p->cfg->n_listeners)
		return cfg_err(p, item, "no listener is named \"%s\"", s);
	char **slot = grow((void **)&m->listeners, &m->n_listeners, sizeof *slot);
	if (!slot)
		return cfg_err(p, item, "out of memory");
	*slot = dup_mem(s, len);
	if (!*slot)
		return cfg_err(p, item, "out of memory");
	return 0;
}

static int parse_match_listener(struct cfgp *p, yaml_node_t *n, void *obj)
{
	return for_each_scalar(p, n, add_listener_ref, obj);
}

static int parse_match_port(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_match *m = obj;
	struct port_list pl = { &m->dst_ports, &m->n_dst_ports };
	return for_each_scalar(p, n, add_port_range, &pl);
}

static int parse_match_proto(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_match *m = obj;
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, n, &s, &len);
	if (rc)
		return rc;
	m->proto = proto_from_name(s, len);
	if (!m->proto)
		return cfg_err(p, n,
			       "unknown proto \"%.*s\" (expected http, tls, dns, smtp or raw)",
			       (int)len, s);
	return 0;
}

static int parse_match_method(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_match *m = obj;
	int rc = get_string(p, n, &m->method, false);
	if (rc)
		return rc;
	for (const char *s = m->method; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return cfg_err(p, n, "invalid method \"%s\"", m->method);
	return 0;
}

struct alt_ctx {
	struct config_strmatch *sm;
	enum config_strmatch_kind kind;
};

static int add_alt(struct cfgp *p, yaml_node_t *item, void *ctx)
{
	struct alt_ctx *ac = ctx;
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, item, &s, &len);
	if (rc)
		return rc;
	if (!len && ac->kind != CONFIG_MATCH_EXACT)
		return cfg_err(p, item, "empty pattern");
	if (ac->kind == CONFIG_MATCH_SUFFIX && len == 1 && s[0] == '.')
		return cfg_err(p, item, "suffix \".\" matches every name");
	struct config_strmatch_alt *a = grow((void **)&ac->sm->alts, &ac->sm->n_alts, sizeof *a);
	if (!a)
		return cfg_err(p, item, "out of memory");
	a->kind = ac->kind;
	a->value = dup_mem(s, len);
	if (!a->value)
		return cfg_err(p, item, "out of memory");
	return 0;
}

static int parse_strmatch(struct cfgp *p, yaml_node_t *n, struct config_strmatch *sm, bool is_host)
{
	static const struct {
		const char *name;
		enum config_strmatch_kind kind;
	} kinds[] = {
		{ "exact", CONFIG_MATCH_EXACT },   { "suffix", CONFIG_MATCH_SUFFIX },
		{ "prefix", CONFIG_MATCH_PREFIX }, { "contains", CONFIG_MATCH_CONTAINS },
		{ "regex", CONFIG_MATCH_REGEX },
	};
	struct alt_ctx ac = { sm, CONFIG_MATCH_EXACT };
	sm->nocase = is_host;
	if (n->type != YAML_MAPPING_NODE) {
		int rc = for_each_scalar(p, n, add_alt, &ac);
		if (rc)
			return rc;
		goto check;
	}
	uint32_t seen = 0;
	for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *k, *v;
		const char *ks = NULL;
		size_t kl = 0;
		int rc = enter(p, pair->key, &k);
		if (!rc)
			rc = scalar(p, k, &ks, &kl);
		if (rc)
			return rc;
		size_t i;
		for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
			if (strlen(kinds[i].name) == kl && !memcmp(kinds[i].name, ks, kl))
				break;
		bool is_nocase = kl == 6 && !memcmp(ks, "nocase", 6);
		if (i == sizeof kinds / sizeof kinds[0] && !is_nocase)
			return cfg_err(p, k,
				       "unknown key \"%.*s\" (expected exact, suffix, prefix, "
				       "contains, regex or nocase)",
				       (int)kl, ks);
		if (seen & (1u << i))
			return cfg_err(p, k, "duplicate key \"%.*s\"", (int)kl, ks);
		seen |= 1u << i;
		rc = enter(p, pair->value, &v);
		if (rc)
			return rc;
		size_t old = path_push_key(p, is_nocase ? "nocase" : kinds[i].name);
		if (is_nocase) {
			rc = get_bool(p, v, &sm->nocase);
		} else {
			ac.kind = kinds[i].kind;
			rc = for_each_scalar(p, v, add_alt, &ac);
		}
		if (rc)
			return rc;
		path_pop(p, old);
	}
check:
	if (!sm->n_alts)
		return cfg_err(p, n, "no pattern given");
	/* Check regexes here, where the line is known; rules_compile compiles them for real. */
	for (size_t i = 0; i < sm->n_alts; i++) {
		if (sm->alts[i].kind != CONFIG_MATCH_REGEX)
			continue;
		regex_t re;
		int flags = REG_EXTENDED | REG_NOSUB | (sm->nocase ? REG_ICASE : 0);
		int rc = regcomp(&re, sm->alts[i].value, flags);
		if (rc) {
			char msg[128];
			regerror(rc, &re, msg, sizeof msg);
			return cfg_err(p, n, "bad regex \"%s\": %s", sm->alts[i].value, msg);
		}
		regfree(&re);
	}
	return 0;
}

static int parse_body_len(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_match *m = obj;
	uint64_t lo, hi;
	int rc;
	if (n->type == YAML_SEQUENCE_NODE) {
		if (seq_len(n) != 2)
			return cfg_err(p, n, "expected a length or a [min, max] pair");
		yaml_node_t *a, *b;
		rc = enter(p, n->data.sequence.items.start[0], &a);
		if (!rc)
			rc = get_size(p, a, 0, UINT64_MAX, &lo);
		if (!rc)
			rc = enter(p, n->data.sequence.items.start[1], &b);
		if (!rc)
			rc = get_size(p, b, 0, UINT64_MAX, &hi);
		if (rc)
			return rc;
		if (lo > hi)
			return cfg_err(p, n, "min %llu is greater than max %llu",
				       (unsigned long long)lo, (unsigned long long)hi);
	} else {
		rc = get_size(p, n, 0, UINT64_MAX, &lo);
		if (rc)
			return rc;
		hi = lo;
	}
	m->has_body_len = true;
	m->body_len_min = lo;
	m->body_len_max = hi;
	return 0;
}

static int parse_body_prefix(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_match *m = obj;
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, n, &s, &len);
	if (rc)
		return rc;
	if (len >= 4 && !memcmp(s, "hex:", 4)) {
		rc = decode_hex(p, n, s + 4, len - 4, &m->body_prefix, &m->body_prefix_len);
		if (rc)
			return rc;
	} else {
		m->body_prefix = (uint8_t *)dup_mem(s, len);
		if (!m->body_prefix)
			return cfg_err(p, n, "out of memory");
		m->body_prefix_len = len;
	}
	if (!m->body_prefix_len)
		return cfg_err(p, n, "empty body_prefix");
	/* The caller hands over only the stored body prefix, so a longer one never matches. */
	uint32_t keep = 0;
	for (size_t i = 0; i < p->cfg->n_listeners; i++)
		if (p->cfg->listeners[i].http.body_store_bytes > keep)
			keep = p->cfg->listeners[i].http.body_store_bytes;
	if (m->body_prefix_len > keep)
		return cfg_err(p, n,
			       "body_prefix is %zu bytes but listeners keep at most %u body "
			       "bytes (limits.body_store_bytes), so it could never match",
			       m->body_prefix_len, keep);
	return 0;
}

/* An entropy in bits per byte, 0 … 8, as millibits. */
static int get_entropy(struct cfgp *p, yaml_node_t *n, uint16_t *out)
{
	const char *s = NULL;
	size_t len = 0;
	int rc = scalar(p, n, &s, &len);
	if (rc)
		return rc;
	char text[32];
	if (!len || len >= sizeof text)
		return cfg_err(p, n, "invalid entropy (expected bits per byte, 0 to 8)");
	memcpy(text, s, len);
	text[len] = '\0';
	char *end = NULL;
	errno = 0;
	double v = strtod(text, &end);
	if (errno || end != text + len || !(v >= 0.0 && v <= 8.0))
		return cfg_err(p, n, "invalid entropy \"%s\" (expected bits per byte, 0 to 8)",
			       text);
	*out = (uint16_t)(v * 1000.0 + 0.5);
	return 0;
}

/* "[lo, hi]" of two scalars read by `one`. */
static int get_pair(struct cfgp *p, yaml_node_t *n, yaml_node_t **a, yaml_node_t **b)
{
	if (n->type != YAML_SEQUENCE_NODE || seq_len(n) != 2)
		return cfg_err(p, n, "expected a [min, max] pair");
	int rc = enter(p, n->data.sequence.items.start[0], a);
	return rc ? rc : enter(p, n->data.sequence.items.start[1], b);
}

static int parse_payload_len(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_payload *pl = obj;
	yaml_node_t *a, *b;
	int rc;
	if (n->type == YAML_SEQUENCE_NODE) {
		rc = get_pair(p, n, &a, &b);
		if (!rc)
			rc = get_size(p, a, 0, UINT64_MAX, &pl->len_min);
		if (!rc)
			rc = get_size(p, b, 0, UINT64_MAX, &pl->len_max);
	} else {
		rc = get_size(p, n, 0, UINT64_MAX, &pl->len_min);
		pl->len_max = pl->len_min;
	}
	if (rc)
		return rc;
	if (pl->len_min > pl->len_max)
		return cfg_err(p, n, "min is greater than max");
	pl->has_len = true;
	return 0;
}

static int parse_payload_entropy(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_payload *pl = obj;
	yaml_node_t *a, *b;
	int rc = get_pair(p, n, &a, &b);
	if (!rc)
		rc = get_entropy(p, a, &pl->entropy_min);
	if (!rc)
		rc = get_entropy(p, b, &pl->entropy_max);
	if (rc)
		return rc;
	if (pl->entropy_min > pl->entropy_max)
		return cfg_err(p, n, "min is greater than max");
	pl->has_entropy = true;
	return 0;
}

/* A byte condition: text or hex:, never empty (it would match everything). */
static int get_condition_bytes(struct cfgp *p, yaml_node_t *n, uint8_t **out, size_t *len)
{
	int rc = get_bytes(p, n, out, len);
	if (!rc && !*len)
		return cfg_err(p, n, "empty byte string");
	return rc;
}

static int parse_payload_prefix(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_payload *pl = obj;
	return get_condition_bytes(p, n, &pl->prefix, &pl->prefix_len);
}

static int parse_payload_contains(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_payload *pl = obj;
	return get_condition_bytes(p, n, &pl->contains, &pl->contains_len);
}

static int parse_at_bytes(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_payload_at *at = obj;
	return get_condition_bytes(p, n, &at->bytes, &at->len);
}

static const struct key payload_at_keys[] = {
	{ "offset", K_U32, offsetof(struct config_payload_at, offset), 0, 65535, NULL },
	{ "bytes", K_FN, 0, 0, 0, parse_at_bytes },
};

static int add_payload_at(struct cfgp *p, yaml_node_t *item, struct config_payload *pl)
{
	struct config_payload_at *at = grow((void **)&pl->at, &pl->n_at, sizeof *at);
	if (!at)
		return cfg_err(p, item, "out of memory");
	int rc = walk_map(p, item, payload_at_keys,
			  sizeof payload_at_keys / sizeof payload_at_keys[0], at);
	if (!rc && !at->bytes)
		return cfg_err(p, item, "missing key \"bytes\"");
	return rc;
}

static int parse_payload_at(struct cfgp *p, yaml_node_t *n, void *obj)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return add_payload_at(p, n, obj);
	for (size_t i = 0; i < seq_len(n); i++) {
		yaml_node_t *item = NULL;
		int rc = enter(p, n->data.sequence.items.start[i], &item);
		if (!rc)
			rc = add_payload_at(p, item, obj);
		if (rc)
			return rc;
	}
	return 0;
}

static const struct key payload_keys[] = {
	{ "prefix", K_FN, 0, 0, 0, parse_payload_prefix },
	{ "contains", K_FN, 0, 0, 0, parse_payload_contains },
	{ "at", K_FN, 0, 0, 0, parse_payload_at },
	{ "len", K_FN, 0, 0, 0, parse_payload_len },
	{ "entropy", K_FN, 0, 0, 0, parse_payload_entropy },
};

static int parse_match_payload(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_match *m = obj;
	struct config_payload *pl = &m->payload;
	pl->present = true;
	int rc = walk_map(p, n, payload_keys, sizeof payload_keys / sizeof payload_keys[0], pl);
	if (rc)
		return rc;
	/* Byte conditions see only the captured prefix: one reaching beyond it could never hold. */
	uint64_t need = pl->prefix_len > pl->contains_len ? pl->prefix_len : pl->contains_len;
	for (size_t i = 0; i < pl->n_at; i++)
		if ((uint64_t)pl->at[i].offset + pl->at[i].len > need)
			need = (uint64_t)pl->at[i].offset + pl->at[i].len;
	uint32_t keep = 0;
	for (size_t i = 0; i < p->cfg->n_listeners; i++)
		if (p->cfg->listeners[i].proto == CONFIG_PROTO_RAW &&
		    p->cfg->listeners[i].raw.capture_bytes > keep)
			keep = p->cfg->listeners[i].raw.capture_bytes;
	if (keep && need > keep)
		return cfg_err(p, n,
			       "payload conditions reach byte %llu but raw listeners capture at "
			       "most %u bytes (raw.capture_bytes), so they could never match",
			       (unsigned long long)need, keep);
	return 0;
}

/*
 * String conditions: K_MATCH_NOCASE where case carries no meaning (host
 * names, HELO, sender domains, SNI; fingerprints are hex, so a JA3 copied in
 * upper case still matches).
 */
static const struct key match_keys[] = {
	{ "proto", K_FN, 0, 0, 0, parse_match_proto },
	{ "listener", K_FN, 0, 0, 0, parse_match_listener },
	{ "dst_port", K_FN, 0, 0, 0, parse_match_port },
	{ "method", K_FN, 0, 0, 0, parse_match_method },
	{ "host", K_MATCH_NOCASE, offsetof(struct config_match, host), 0, 0, NULL },
	{ "path", K_MATCH, offsetof(struct config_match, path), 0, 0, NULL },
	{ "uri", K_MATCH, offsetof(struct config_match, uri), 0, 0, NULL },
	{ "user_agent", K_MATCH, offsetof(struct config_match, user_agent), 0, 0, NULL },
	{ "body_len", K_FN, 0, 0, 0, parse_body_len },
	{ "body_prefix", K_FN, 0, 0, 0, parse_body_prefix },
	{ "helo", K_MATCH_NOCASE, offsetof(struct config_match, helo), 0, 0, NULL },
	{ "mail_from", K_MATCH_NOCASE, offsetof(struct config_match, mail_from), 0, 0, NULL },
	{ "subject", K_MATCH, offsetof(struct config_match, subject), 0, 0, NULL },
	{ "x_mailer", K_MATCH, offsetof(struct config_match, x_mailer), 0, 0, NULL },
	{ "header_order", K_MATCH, offsetof(struct config_match, header_order), 0, 0, NULL },
	{ "campaign", K_MATCH, offsetof(struct config_match, campaign), 0, 0, NULL },
	{ "sni", K_MATCH_NOCASE, offsetof(struct config_match, sni), 0, 0, NULL },
	{ "ja3", K_MATCH_NOCASE, offsetof(struct config_match, ja3), 0, 0, NULL },
	{ "ja4", K_MATCH_NOCASE, offsetof(struct config_match, ja4), 0, 0, NULL },
	{ "payload", K_FN, 0, 0, 0, parse_match_payload },
};

static int parse_family_match(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_family *f = obj;
	return walk_map(p, n, match_keys, sizeof match_keys / sizeof match_keys[0], &f->match);
}

static int parse_family_answer(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_family *f = obj;
	f->has_answer = true;
	f->answer.status = 200;
	return parse_answer_into(p, n, &f->answer);
}

static int parse_family_name(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_family *f = obj;
	int rc = get_string(p, n, &f->name, false);
	if (rc)
		return rc;
	if (!valid_name(f->name) || strlen(f->name) > 64)
		return cfg_err(p, n,
			       "family name \"%s\" must be 1..64 bytes without spaces or "
			       "control characters",
			       f->name);
	if (!strcmp(f->name, "unknown"))
		return cfg_err(p, n, "family name \"unknown\" is reserved for unmatched traffic");
	return 0;
}

static int parse_family_tag(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config_family *f = obj;
	int rc = get_string(p, n, &f->tag, true);
	if (rc || !f->tag)
		return rc;
	if (!valid_name(f->tag) || strlen(f->tag) > 64)
		return cfg_err(p, n,
			       "tag \"%s\" must be 1..64 bytes without spaces or control "
			       "characters",
			       f->tag);
	return 0;
}

static const struct key family_keys[] = {
	{ "name", K_FN, 0, 0, 0, parse_family_name },
	{ "tag", K_FN, 0, 0, 0, parse_family_tag },
	{ "match", K_FN, 0, 0, 0, parse_family_match },
	{ "answer", K_FN, 0, 0, 0, parse_family_answer },
};

static int parse_families(struct cfgp *p, yaml_node_t *n, struct config *c)
{
	if (scalar_is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return cfg_err(p, n, "expected a list of families, got %s", node_kind(n));
	size_t count = seq_len(n);
	if (!count)
		return 0;
	c->families = calloc(count, sizeof *c->families);
	if (!c->families)
		return cfg_err(p, n, "out of memory");
	c->n_families = count;
	for (size_t i = 0; i < count; i++) {
		struct config_family *f = &c->families[i];
		yaml_node_t *item = NULL;
		size_t old = path_push_index(p, i);
		int rc = enter(p, n->data.sequence.items.start[i], &item);
		if (!rc)
			rc = walk_map(p, item, family_keys,
				      sizeof family_keys / sizeof family_keys[0], f);
		if (rc)
			return rc;
		if (!f->name)
			return cfg_err(p, item, "missing key \"name\"");
		path_pop(p, old);
	}
	return 0;
}

static int defer_families(struct cfgp *p, yaml_node_t *n, void *obj)
{
	(void)obj;
	p->families = n;
	return 0;
}

/* --- the document ------------------------------------------------------------- */

static int parse_dns(struct cfgp *p, yaml_node_t *n, void *obj)
{
	struct config *c = obj;
	return config_dns_parse(p->doc, n, p->name, &c->dns, p->err, p->errlen);
}

static const struct key top_keys[] = {
	{ "sensor", K_FN, 0, 0, 0, parse_sensor },
	{ "log", K_FN, 0, 0, 0, parse_log },
	{ "user", K_OSTR, offsetof(struct config, user), 0, 0, NULL },
	{ "group", K_OSTR, offsetof(struct config, group), 0, 0, NULL },
	{ "workers", K_U32, offsetof(struct config, workers), 0, 1024, NULL },
	{ "log_level", K_FN, 0, 0, 0, parse_log_level },
	{ "pid_file", K_OSTR, offsetof(struct config, pid_file), 0, 0, NULL },
	{ "stats_file", K_OSTR, offsetof(struct config, stats_file), 0, 0, NULL },
	{ "drain_timeout_ms", K_U32, offsetof(struct config, drain_timeout_ms), 0, UINT32_MAX,
	  NULL },
	{ "eve", K_FN, 0, 0, 0, parse_eve },
	{ "store", K_FN, 0, 0, 0, parse_store },
	{ "enrich", K_FN, 0, 0, 0, parse_enrich },
	{ "listen", K_FN, 0, 0, 0, parse_listeners },
	{ "families", K_FN, 0, 0, 0, defer_families },
	{ "default_answer", K_FN, 0, 0, 0, parse_default_answer },
	{ "dns", K_FN, 0, 0, 0, parse_dns },
	{ "metrics", K_FN, 0, 0, 0, parse_metrics },
};

static int set_defaults(struct config *c, const char *name)
{
	char host[256];
	if (gethostname(host, sizeof host) || !host[0])
		snprintf(host, sizeof host, "sinkd");
	host[sizeof host - 1] = '\0';
	c->path = strdup(name);
	c->sensor_id = strdup(host);
	c->log_dir = strdup("/var/lib/sinkd/log");
	c->log_level = strdup("info");
	c->fsync = CONFIG_FSYNC_INTERVAL;
	c->fsync_interval_ms = 100;
	c->segment_bytes = UINT64_C(64) << 20;
	c->ring_bytes = 8u << 20;
	c->workers = 0;
	c->drain_timeout_ms = 5000;
	c->default_answer.status = 404;
	if (!c->path || !c->sensor_id || !c->log_dir || !c->log_level)
		return ERR_NOMEM;
	return 0;
}

static int load_document(struct cfgp *p, yaml_document_t *doc)
{
	struct config *c = p->cfg;
	yaml_node_t *root = yaml_document_get_root_node(doc);
	p->doc = doc;
	p->n_nodes = (size_t)(doc->nodes.top - doc->nodes.start);
	if (p->n_nodes) {
		p->visited = calloc(p->n_nodes, 1);
		if (!p->visited)
			return cfg_err(p, NULL, "out of memory");
	}
	if (root) {
		yaml_node_t *r;
		int rc = enter(p, 1, &r);
		if (!rc && !scalar_is_null(r))
			rc = walk_map(p, r, top_keys, sizeof top_keys / sizeof top_keys[0], c);
		if (rc)
			return rc;
	}
	if (!c->n_listeners)
		return cfg_err(p, root,
			       "no listeners: at least one entry under \"listen\" is required");
	for (size_t i = 0; i < c->n_listeners; i++) {
		struct config_listener *l = &c->listeners[i];
		if (l->proto != CONFIG_PROTO_DNS)
			continue;
		if (!c->dns)
			return cfg_err(p, root,
				       "listener %s has proto dns but there is no \"dns\" section",
				       l->name);
		/* The PROXY header would be read as a DNS length prefix: refuse rather than misparse. */
		if (l->proxy_protocol)
			return cfg_err(p, root,
				       "listener %s: proxy_protocol is not supported for proto dns",
				       l->name);
		/*
		 * Any-port capture diverts UDP by TPROXY, and a reply would leave from
		 * the listener's port instead of the one asked: DNS answers only where
		 * it is bound.
		 */
		if (l->n_ports)
			return cfg_err(p, root,
				       "listener %s: \"ports\" (any-port capture) is not supported "
				       "for proto dns",
				       l->name);
		/* DNS over TCP: one idle timeout before and between queries (RFC 7766 §6.2.3). */
		l->http.header_timeout_ms = c->dns->tcp_idle_timeout_ms;
		l->http.idle_timeout_ms = c->dns->tcp_idle_timeout_ms;
	}
	/* The admin listener must never answer on a sinkhole address: bots would reach it. */
	for (size_t i = 0; c->metrics.listen && i < c->n_listeners; i++)
		if (sockaddr_overlap(&c->metrics.addr, &c->listeners[i].addr))
			return cfg_err(p, root,
				       "metrics.listen %s overlaps listener %s (%s): the admin "
				       "listener must have an address of its own",
				       c->metrics.listen, c->listeners[i].name,
				       c->listeners[i].addr_text);
	if (p->families) {
		size_t old = path_push_key(p, "families");
		int rc = parse_families(p, p->families, c);
		if (rc)
			return rc;
		path_pop(p, old);
	}
	if (!c->stats_file) {
		size_t n = strlen(c->log_dir) + sizeof "/stats.json";
		c->stats_file = malloc(n);
		if (!c->stats_file)
			return cfg_err(p, NULL, "out of memory");
		snprintf(c->stats_file, n, "%s/stats.json", c->log_dir);
	}
	return 0;
}

int config_load_string(const char *yaml, size_t len, const char *name, struct config **out,
		       char *errbuf, size_t errlen)
{
	struct cfgp p;
	memset(&p, 0, sizeof p);
	p.name = name ? name : "<string>";
	p.err = errbuf;
	p.errlen = errlen;
	if (errbuf && errlen)
		errbuf[0] = '\0';
	*out = NULL;

	struct config *c = calloc(1, sizeof *c);
	if (!c || set_defaults(c, p.name)) {
		config_free(c);
		cfg_err(&p, NULL, "out of memory");
		return ERR_NOMEM;
	}
	p.cfg = c;
	if (len > CONFIG_MAX_FILE) {
		config_free(c);
		return cfg_err(&p, NULL, "configuration larger than %u bytes", CONFIG_MAX_FILE);
	}

	int rc;
	yaml_parser_t parser;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&parser)) {
		config_free(c);
		cfg_err(&p, NULL, "out of memory");
		return ERR_NOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml ? yaml : ""),
				     yaml ? len : 0);
	if (!yaml_parser_load(&parser, &doc)) {
		/* libyaml frees the partial document itself on failure. */
		rc = cfg_err(&p, NULL, "%s", "");
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "%s:%zu: YAML syntax error: %s%s%s", p.name,
				 parser.problem_mark.line + 1,
				 parser.problem ? parser.problem : "unknown problem",
				 parser.context ? " " : "", parser.context ? parser.context : "");
		goto out_parser;
	}
	rc = load_document(&p, &doc);
	if (!rc) {
		/* A second document would be silently ignored: refuse it. */
		yaml_document_t extra;
		if (!yaml_parser_load(&parser, &extra)) {
			rc = cfg_err(&p, NULL, "%s", "");
			if (errbuf && errlen)
				snprintf(errbuf, errlen, "%s:%zu: YAML syntax error: %s", p.name,
					 parser.problem_mark.line + 1,
					 parser.problem ? parser.problem : "unknown problem");
		} else {
			yaml_node_t *r2 = yaml_document_get_root_node(&extra);
			if (r2) {
				p.path_len = 0;
				p.path[0] = '\0';
				rc = cfg_err(&p, r2, "only one YAML document is allowed");
			}
			yaml_document_delete(&extra);
		}
	}
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	free(p.visited);
	if (rc) {
		config_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int config_load(const char *path, struct config **out, char *errbuf, size_t errlen)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto out_sys;
	struct stat st;
	if (fstat(fd, &st))
		goto out_close;
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "%s: not a regular file", path);
		return ERR_CONFIG;
	}
	if ((uint64_t)st.st_size > CONFIG_MAX_FILE) {
		close(fd);
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "%s: larger than %u bytes", path, CONFIG_MAX_FILE);
		return ERR_CONFIG;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		goto out_close;
	for (;;) {
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			goto out_close;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == cap) { /* the file grew while we read it */
			free(buf);
			close(fd);
			if (errbuf && errlen)
				snprintf(errbuf, errlen, "%s: changed while being read", path);
			return ERR_CONFIG;
		}
	}
	close(fd);
	int rc = config_load_string(buf, len, path, out, errbuf, errlen);
	free(buf);
	return rc;

out_close : {
	int e = errno;
	close(fd);
	errno = e;
}
out_sys:
	if (errbuf && errlen)
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
	return ERR_SYS;
}

/* --- freeing ---------------------------------------------------------------------- */

static void strmatch_free(struct config_strmatch *sm)
{
	for (size_t i = 0; i < sm->n_alts; i++)
		free(sm->alts[i].value);
	free(sm->alts);
}

static void answer_free(struct config_answer *a)
{
	for (size_t i = 0; i < a->n_headers; i++) {
		free(a->headers[i].name);
		free(a->headers[i].value);
	}
	free(a->headers);
	free(a->body);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	config_dns_free(c->dns);
	for (size_t i = 0; i < c->n_listeners; i++) {
		free(c->listeners[i].name);
		free(c->listeners[i].addr_text);
		free(c->listeners[i].trusted_proxies);
		free(c->listeners[i].smtp.hostname);
		free(c->listeners[i].smtp.sample_dir);
		free(c->listeners[i].raw.banner);
		free(c->listeners[i].ports);
		free(c->listeners[i].seized);
		tls_free(&c->listeners[i].tls);
	}
	free(c->listeners);
	for (size_t i = 0; i < c->n_families; i++) {
		struct config_family *f = &c->families[i];
		struct config_match *m = &f->match;
		free(f->name);
		free(f->tag);
		for (size_t j = 0; j < m->n_listeners; j++)
			free(m->listeners[j]);
		free(m->listeners);
		free(m->dst_ports);
		free(m->method);
		strmatch_free(&m->host);
		strmatch_free(&m->path);
		strmatch_free(&m->uri);
		strmatch_free(&m->user_agent);
		strmatch_free(&m->helo);
		strmatch_free(&m->mail_from);
		strmatch_free(&m->subject);
		strmatch_free(&m->x_mailer);
		strmatch_free(&m->header_order);
		strmatch_free(&m->campaign);
		strmatch_free(&m->sni);
		strmatch_free(&m->ja3);
		strmatch_free(&m->ja4);
		free(m->body_prefix);
		free(m->payload.prefix);
		free(m->payload.contains);
		for (size_t j = 0; j < m->payload.n_at; j++)
			free(m->payload.at[j].bytes);
		free(m->payload.at);
		answer_free(&f->answer);
	}
	free(c->families);
	answer_free(&c->default_answer);
	free(c->path);
	free(c->sensor_id);
	free(c->log_dir);
	free(c->user);
	free(c->group);
	free(c->log_level);
	free(c->eve_file);
	free(c->signing_key);
	free(c->stats_file);
	free(c->metrics.listen);
	free(c->pid_file);
	free(c->store.path);
	for (size_t i = 0; i < c->store.n_asn; i++)
		free(c->store.asn[i]);
	for (size_t i = 0; i < c->store.n_country; i++)
		free(c->store.country[i]);
	for (size_t i = 0; i < c->store.n_contacts; i++)
		free(c->store.contacts[i]);
	free(c->store.asn);
	free(c->store.country);
	free(c->store.contacts);
	for (size_t i = 0; i < c->store.n_bot_ids; i++) {
		free(c->store.bot_ids[i].family);
		free(c->store.bot_ids[i].uri_param);
		free(c->store.bot_ids[i].header);
	}
	free(c->store.bot_ids);
	free(c);
}

/* --- addresses ---------------------------------------------------------------------- */

static int parse_port(const char *s, uint16_t *port)
{
	size_t len = strlen(s);
	uint64_t v = 0;
	if (len > 5 || !parse_u64(s, len, &v) || v > 65535)
		return ERR_MALFORMED;
	*port = (uint16_t)v;
	return 0;
}

int config_parse_sockaddr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN];
	const char *port_text;
	uint16_t port;
	if (!text)
		return ERR_INVAL;
	memset(ss, 0, sizeof *ss);
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return ERR_MALFORMED;
		size_t hl = (size_t)(close - text - 1);
		if (!hl || hl >= sizeof host)
			return ERR_MALFORMED;
		memcpy(host, text + 1, hl);
		host[hl] = '\0';
		port_text = close + 2;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		if (parse_port(port_text, &port) || inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return ERR_MALFORMED;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof *s6;
		return 0;
	}
	const char *colon = strrchr(text, ':');
	if (!colon)
		return ERR_MALFORMED;
	size_t hl = (size_t)(colon - text);
	if (!hl || hl >= sizeof host || memchr(text, ':', hl))
		return ERR_MALFORMED; /* a bare IPv6 address needs brackets */
	memcpy(host, text, hl);
	host[hl] = '\0';
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	if (parse_port(colon + 1, &port) || inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		return ERR_MALFORMED;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	*len = sizeof *s4;
	return 0;
}

/*
 * Host bits beyond the prefix are refused (ERR_INVAL, with out->prefix_len
 * set), not masked: "10.1.2.3/8" is more likely a typo than an intent, and
 * for a trust list a silent widening is the worse failure.
 */
int config_parse_cidr(const char *text, struct config_cidr *out)
{
	char host[INET6_ADDRSTRLEN];
	if (!text)
		return ERR_INVAL;
	memset(out, 0, sizeof *out);
	const char *slash = strchr(text, '/');
	size_t hl = slash ? (size_t)(slash - text) : strlen(text);
	if (!hl || hl >= sizeof host)
		return ERR_MALFORMED;
	memcpy(host, text, hl);
	host[hl] = '\0';
	unsigned max;
	if (memchr(host, ':', hl)) {
		if (inet_pton(AF_INET6, host, out->addr) != 1)
			return ERR_MALFORMED;
		out->ipver = 6;
		max = 128;
	} else {
		if (inet_pton(AF_INET, host, out->addr) != 1)
			return ERR_MALFORMED;
		out->ipver = 4;
		max = 32;
	}
	uint64_t plen = max;
	if (slash) {
		size_t pl = strlen(slash + 1);
		if (pl > 3 || !parse_u64(slash + 1, pl, &plen) || plen > max)
			return ERR_MALFORMED;
	}
	out->prefix_len = (uint8_t)plen;
	for (unsigned bit = (unsigned)plen; bit < max; bit++)
		if (out->addr[bit / 8] & (0x80u >> (bit % 8)))
			return ERR_INVAL;
	return 0;
}

bool config_cidr_contains(const struct config_cidr *c, const struct event_addr *a)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *addr = a->addr;
	/* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; an IPv4 prefix covers them. */
	if (c->ipver == 4 && a->ipver == 6 && !memcmp(a->addr, mapped, sizeof mapped))
		addr = a->addr + 12;
	else if (c->ipver != a->ipver)
		return false;
	unsigned full = c->prefix_len / 8u, rest = c->prefix_len % 8u;
	if (memcmp(c->addr, addr, full))
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (c->addr[full] & mask) == (addr[full] & mask);
}
