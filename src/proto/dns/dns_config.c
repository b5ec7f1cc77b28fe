/* dns_config.c — parses the `dns:` config section strictly (unknown keys are errors). */
#include "proto/dns/dns_config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

struct dcp {
	yaml_document_t *doc;
	const char *file;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 4, 5))) static int dns_err(struct dcp *p, const yaml_node_t *n,
							 const char *key, const char *fmt, ...)
{
	if (!p->err || !p->errlen)
		return ERR_CONFIG;
	int w = snprintf(p->err, p->errlen, "%s:%zu: dns%s%s: ", p->file,
			 n ? (size_t)n->start_mark.line + 1 : 1, key ? "." : "", key ? key : "");
	size_t off = w < 0 ? 0 : (size_t)w;
	if (off < p->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->err + off, p->errlen - off, fmt, ap);
		va_end(ap);
	}
	return ERR_CONFIG;
}

static yaml_node_t *node(struct dcp *p, int idx)
{
	return yaml_document_get_node(p->doc, idx);
}

static int scalar_str(struct dcp *p, yaml_node_t *n, const char *key, char **out)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return dns_err(p, n, key, "expected a value");
	char *s = malloc(n->data.scalar.length + 1);
	if (!s)
		return dns_err(p, n, key, "out of memory");
	memcpy(s, n->data.scalar.value, n->data.scalar.length);
	s[n->data.scalar.length] = '\0';
	if (strlen(s) != n->data.scalar.length) {
		free(s);
		return dns_err(p, n, key, "NUL byte in value");
	}
	free(*out);
	*out = s;
	return 0;
}

static int scalar_u32(struct dcp *p, yaml_node_t *n, const char *key, uint32_t min, uint32_t max,
		      uint32_t *out)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return dns_err(p, n, key, "expected a number");
	const char *s = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	uint64_t v = 0;
	if (len == 0 || len > 10)
		goto bad;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v < min || v > max)
		goto bad;
	*out = (uint32_t)v;
	return 0;
bad:
	return dns_err(p, n, key, "expected an integer from %u to %u, got \"%.*s\"", min, max,
		       (int)len, s);
}

/* Calls fn for a scalar or for each scalar of a list. */
static int each_scalar(struct dcp *p, yaml_node_t *n, const char *key,
		       int (*fn)(struct dcp *p, yaml_node_t *item, const char *key, void *ctx),
		       void *ctx)
{
	if (n && n->type == YAML_SCALAR_NODE)
		return fn(p, n, key, ctx);
	if (!n || n->type != YAML_SEQUENCE_NODE)
		return dns_err(p, n, key, "expected a value or a list");
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *item = node(p, *it);
		if (!item || item->type != YAML_SCALAR_NODE)
			return dns_err(p, item, key, "expected a list of values");
		int rc = fn(p, item, key, ctx);
		if (rc)
			return rc;
	}
	return 0;
}

struct addr_ctx {
	uint8_t (*a)[4];
	size_t *n_a;
	uint8_t (*aaaa)[16];
	size_t *n_aaaa;
	bool want6;
};

static int add_addr(struct dcp *p, yaml_node_t *item, const char *key, void *vctx)
{
	struct addr_ctx *c = vctx;
	char buf[64];
	size_t len = item->data.scalar.length;
	if (len >= sizeof buf)
		return dns_err(p, item, key, "invalid address");
	memcpy(buf, item->data.scalar.value, len);
	buf[len] = '\0';
	if (!c->want6) {
		if (*c->n_a >= DNS_CFG_MAX_ADDRS)
			return dns_err(p, item, key, "at most %d addresses", DNS_CFG_MAX_ADDRS);
		if (inet_pton(AF_INET, buf, c->a[*c->n_a]) != 1)
			return dns_err(p, item, key, "\"%s\" is not an IPv4 address", buf);
		(*c->n_a)++;
	} else {
		if (*c->n_aaaa >= DNS_CFG_MAX_ADDRS)
			return dns_err(p, item, key, "at most %d addresses", DNS_CFG_MAX_ADDRS);
		if (inet_pton(AF_INET6, buf, c->aaaa[*c->n_aaaa]) != 1)
			return dns_err(p, item, key, "\"%s\" is not an IPv6 address", buf);
		(*c->n_aaaa)++;
	}
	return 0;
}

bool dns_config_name_to_wire(const char *s, size_t len, uint8_t *wire, size_t *wlen)
{
	if (len && s[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return false;
	size_t o = 0, lab = 0, ll = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (ll == 0 || ll > 63)
				return false;
			wire[lab] = (uint8_t)ll;
			ll = 0;
			continue;
		}
		if (ll == 0) {
			lab = o++;
		}
		char ch = s[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
			  ch == '_';
		if (!ok)
			return false;
		wire[o++] = (uint8_t)ch;
		ll++;
	}
	*wlen = o;
	return true;
}

static int check_name(struct dcp *p, yaml_node_t *item, const char *key, bool relative_ok)
{
	uint8_t wire[256];
	size_t wl;
	const char *s = (const char *)item->data.scalar.value;
	size_t len = item->data.scalar.length;
	if (!dns_config_name_to_wire(s, len, wire, &wl))
		return dns_err(p, item, key, "\"%.*s\" is not a valid domain name", (int)len, s);
	if (!relative_ok && wire[0] + 1u == wl)
		return dns_err(p, item, key, "\"%.*s\": a seized name needs at least two labels",
			       (int)len, s);
	return 0;
}

static int push_str(struct dcp *p, yaml_node_t *item, const char *key, char ***arr, size_t *n)
{
	char **a = realloc(*arr, (*n + 1) * sizeof *a);
	if (!a)
		return dns_err(p, item, key, "out of memory");
	*arr = a;
	a[*n] = NULL;
	int rc = scalar_str(p, item, key, &a[*n]);
	if (rc)
		return rc;
	(*n)++;
	return 0;
}

static int add_zone_name(struct dcp *p, yaml_node_t *item, const char *key, void *ctx)
{
	struct config_dns_zone *z = ctx;
	int rc = check_name(p, item, key, false);
	return rc ? rc : push_str(p, item, key, &z->names, &z->n_names);
}

static int add_ns(struct dcp *p, yaml_node_t *item, const char *key, void *ctx)
{
	struct config_dns *d = ctx;
	int rc = check_name(p, item, key, true);
	return rc ? rc : push_str(p, item, key, &d->ns, &d->n_ns);
}

/* Resolves a zone file path against the config file's directory. */
static int add_zone_file(struct dcp *p, yaml_node_t *item, const char *key, void *ctx)
{
	struct config_dns_zone *z = ctx;
	char *raw = NULL;
	int rc = scalar_str(p, item, key, &raw);
	if (rc)
		return rc;
	char *full = raw;
	const char *slash = strrchr(p->file, '/');
	if (raw[0] != '/' && slash) {
		size_t dl = (size_t)(slash - p->file) + 1;
		size_t n = dl + strlen(raw) + 1;
		full = malloc(n);
		if (!full) {
			free(raw);
			return dns_err(p, item, key, "out of memory");
		}
		memcpy(full, p->file, dl);
		memcpy(full + dl, raw, strlen(raw) + 1);
		free(raw);
	}
	char **a = realloc(z->files, (z->n_files + 1) * sizeof *a);
	if (!a) {
		free(full);
		return dns_err(p, item, key, "out of memory");
	}
	z->files = a;
	a[z->n_files++] = full;
	return 0;
}

static int add_exempt(struct dcp *p, yaml_node_t *item, const char *key, void *ctx)
{
	struct config_dns *d = ctx;
	char buf[64];
	size_t len = item->data.scalar.length;
	struct config_cidr c;
	if (len >= sizeof buf)
		return dns_err(p, item, key, "invalid address prefix");
	memcpy(buf, item->data.scalar.value, len);
	buf[len] = '\0';
	if (config_parse_cidr(buf, &c) != 0)
		return dns_err(p, item, key, "\"%s\" is not an address prefix", buf);
	struct config_cidr *a = realloc(d->rrl_exempt, (d->n_rrl_exempt + 1) * sizeof *a);
	if (!a)
		return dns_err(p, item, key, "out of memory");
	d->rrl_exempt = a;
	a[d->n_rrl_exempt++] = c;
	return 0;
}

/* Iterates a mapping: fn(key, value) for each pair; keys must be scalars. */
static int each_pair(struct dcp *p, yaml_node_t *n, const char *what,
		     int (*fn)(struct dcp *p, const char *k, yaml_node_t *v, void *ctx), void *ctx)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return dns_err(p, n, what, "expected a mapping");
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = node(p, pr->key), *v = node(p, pr->value);
		if (!k || k->type != YAML_SCALAR_NODE || !v)
			return dns_err(p, k, what, "expected a key");
		char key[64];
		size_t kl = k->data.scalar.length;
		if (kl >= sizeof key)
			return dns_err(p, k, what, "unknown key");
		memcpy(key, k->data.scalar.value, kl);
		key[kl] = '\0';
		int rc = fn(p, key, v, ctx);
		if (rc)
			return rc;
	}
	return 0;
}

static int soa_key(struct dcp *p, const char *k, yaml_node_t *v, void *ctx)
{
	struct config_dns *d = ctx;
	if (!strcmp(k, "rname")) {
		int rc = scalar_str(p, v, "soa.rname", &d->soa_rname);
		return rc ? rc : check_name(p, v, "soa.rname", true);
	}
	if (!strcmp(k, "serial")) {
		d->soa_serial_set = true;
		return scalar_u32(p, v, "soa.serial", 0, UINT32_MAX, &d->soa_serial);
	}
	if (!strcmp(k, "refresh"))
		return scalar_u32(p, v, "soa.refresh", 0, INT32_MAX, &d->soa_refresh);
	if (!strcmp(k, "retry"))
		return scalar_u32(p, v, "soa.retry", 0, INT32_MAX, &d->soa_retry);
	if (!strcmp(k, "expire"))
		return scalar_u32(p, v, "soa.expire", 0, INT32_MAX, &d->soa_expire);
	if (!strcmp(k, "minimum"))
		return scalar_u32(p, v, "soa.minimum", 0, INT32_MAX, &d->soa_minimum);
	return dns_err(p, v, "soa", "unknown key \"%s\"", k);
}

static int rrl_key(struct dcp *p, const char *k, yaml_node_t *v, void *ctx)
{
	struct config_dns *d = ctx;
	uint32_t u = 0;
	int rc;
	if (!strcmp(k, "responses_per_second"))
		return scalar_u32(p, v, "rrl.responses_per_second", 0, 1000000, &d->rrl_rate);
	if (!strcmp(k, "slip"))
		return scalar_u32(p, v, "rrl.slip", 0, 10, &d->rrl_slip);
	if (!strcmp(k, "ipv4_prefix")) {
		rc = scalar_u32(p, v, "rrl.ipv4_prefix", 8, 32, &u);
		d->rrl_v4_prefix = (uint8_t)u;
		return rc;
	}
	if (!strcmp(k, "ipv6_prefix")) {
		rc = scalar_u32(p, v, "rrl.ipv6_prefix", 16, 128, &u);
		d->rrl_v6_prefix = (uint8_t)u;
		return rc;
	}
	if (!strcmp(k, "exempt"))
		return each_scalar(p, v, "rrl.exempt", add_exempt, d);
	return dns_err(p, v, "rrl", "unknown key \"%s\"", k);
}

static int zone_key(struct dcp *p, const char *k, yaml_node_t *v, void *ctx)
{
	struct config_dns_zone *z = ctx;
	if (!strcmp(k, "family"))
		return scalar_str(p, v, "zones.family", &z->family);
	if (!strcmp(k, "tag"))
		return scalar_str(p, v, "zones.tag", &z->tag);
	if (!strcmp(k, "names"))
		return each_scalar(p, v, "zones.names", add_zone_name, z);
	if (!strcmp(k, "files"))
		return each_scalar(p, v, "zones.files", add_zone_file, z);
	if (!strcmp(k, "ttl"))
		return scalar_u32(p, v, "zones.ttl", 1, INT32_MAX, &z->ttl);
	if (!strcmp(k, "a") || !strcmp(k, "aaaa")) {
		struct addr_ctx ac = { z->a, &z->n_a, z->aaaa, &z->n_aaaa, k[1] == 'a' };
		z->has_addrs = true;
		return each_scalar(p, v, k[1] == 'a' ? "zones.aaaa" : "zones.a", add_addr, &ac);
	}
	return dns_err(p, v, "zones", "unknown key \"%s\"", k);
}

static int top_key(struct dcp *p, const char *k, yaml_node_t *v, void *ctx)
{
	struct config_dns *d = ctx;
	uint32_t u = 0;
	int rc;
	if (!strcmp(k, "ttl"))
		return scalar_u32(p, v, "ttl", 1, INT32_MAX, &d->ttl);
	if (!strcmp(k, "a") || !strcmp(k, "aaaa")) {
		struct addr_ctx ac = { d->a, &d->n_a, d->aaaa, &d->n_aaaa, k[1] == 'a' };
		return each_scalar(p, v, k, add_addr, &ac);
	}
	if (!strcmp(k, "ns"))
		return each_scalar(p, v, "ns", add_ns, d);
	if (!strcmp(k, "soa"))
		return each_pair(p, v, "soa", soa_key, d);
	if (!strcmp(k, "edns_udp_size")) {
		rc = scalar_u32(p, v, "edns_udp_size", 512, 4096, &u);
		d->edns_udp_size = (uint16_t)u;
		return rc;
	}
	if (!strcmp(k, "tcp_idle_timeout_ms"))
		return scalar_u32(p, v, "tcp_idle_timeout_ms", 1, 3600000, &d->tcp_idle_timeout_ms);
	if (!strcmp(k, "tcp_max_queries"))
		return scalar_u32(p, v, "tcp_max_queries", 1, UINT32_MAX, &d->tcp_max_queries);
	if (!strcmp(k, "rrl"))
		return each_pair(p, v, "rrl", rrl_key, d);
	if (!strcmp(k, "zones")) {
		if (v->type != YAML_SEQUENCE_NODE)
			return dns_err(p, v, "zones", "expected a list of zones");
		size_t count = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
		if (d->zones || count == 0 || count > 65535)
			return dns_err(p, v, "zones", "expected 1 to 65535 zone entries");
		d->zones = calloc(count, sizeof *d->zones);
		if (!d->zones)
			return dns_err(p, v, "zones", "out of memory");
		for (size_t i = 0; i < count; i++) {
			yaml_node_t *zn = node(p, v->data.sequence.items.start[i]);
			struct config_dns_zone *z = &d->zones[i];
			d->n_zones++;
			rc = each_pair(p, zn, "zones", zone_key, z);
			if (rc)
				return rc;
			if (!z->family)
				return dns_err(p, zn, "zones", "missing key \"family\"");
			if (!z->n_names && !z->n_files)
				return dns_err(p, zn, "zones", "give \"names\" or \"files\"");
		}
		return 0;
	}
	return dns_err(p, v, NULL, "unknown key \"%s\"", k);
}

int config_dns_parse(yaml_document_t *doc, yaml_node_t *n, const char *file,
		     struct config_dns **out, char *errbuf, size_t errlen)
{
	struct dcp p = { doc, file, errbuf, errlen };
	if (*out)
		return dns_err(&p, n, NULL, "duplicate section");
	struct config_dns *d = calloc(1, sizeof *d);
	if (!d)
		return dns_err(&p, n, NULL, "out of memory");
	d->ttl = 300;
	d->soa_refresh = 3600;
	d->soa_retry = 600;
	d->soa_expire = 86400;
	d->soa_minimum = 300;
	d->edns_udp_size = 1232;
	d->tcp_idle_timeout_ms = 10000;
	d->tcp_max_queries = 1000;
	d->rrl_rate = 100;
	d->rrl_slip = 2;
	d->rrl_v4_prefix = 24;
	d->rrl_v6_prefix = 56;
	*out = d;
	int rc = each_pair(&p, n, NULL, top_key, d);
	if (rc)
		return rc;
	if (!d->zones)
		return dns_err(&p, n, NULL, "missing key \"zones\"");
	if (!d->n_a && !d->n_aaaa) {
		for (size_t i = 0; i < d->n_zones; i++)
			if (!d->zones[i].has_addrs)
				return dns_err(&p, n, NULL,
					       "give sinkhole addresses (\"a\" or \"aaaa\") for "
					       "the section or for every zone");
	}
	return 0;
}

void config_dns_free(struct config_dns *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_zones; i++) {
		struct config_dns_zone *z = &d->zones[i];
		free(z->family);
		free(z->tag);
		for (size_t k = 0; k < z->n_names; k++)
			free(z->names[k]);
		free(z->names);
		for (size_t k = 0; k < z->n_files; k++)
			free(z->files[k]);
		free(z->files);
	}
	free(d->zones);
	for (size_t k = 0; k < d->n_ns; k++)
		free(d->ns[k]);
	free(d->ns);
	free(d->soa_rname);
	free(d->rrl_exempt);
	free(d);
}
