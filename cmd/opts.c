/*
 * opts.c - getopt_long() arrays, usage text and value checks made from a stage
 * program's table of options (opts.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

#define MAX_OPTS 64
#define OPT_BASE 0x1200         /* getopt values of long-only entries: OPT_BASE + index */

static struct option longopts[MAX_OPTS + 16];
static char shortopts[3 * MAX_OPTS + 16];
static char numbers[SB_CMD_MAX_KV][24];   /* the counts given as stage options */
static size_t n_numbers;
/* The usage and table of the last sb_cmd_getopts(), for sb_cmd_usage_error(). */
static const struct sb_cmd_usage *last_usage;
static const struct sb_cmd_opt *last_table;

const struct option *sb_cmd_longopts(void)
{
	return longopts;
}

/* Prints text with '{}' replaced by arg. */
static void put_message(FILE *fp, const char *text, const char *arg)
{
	const char *at = strstr(text, "{}");

	if (!at) {
		fputs(text, fp);
		return;
	}
	fprintf(fp, "%.*s%s%s", (int)(at - text), text, arg, at + 2);
}

/* Prints entry t's head and help, the help at the column. */
static void put_entry(FILE *fp, const struct sb_cmd_opt *t, int column)
{
	char head[96];
	const char *h = t->help, *nl;
	int n;

	if (t->flag)
		n = snprintf(head, sizeof head, "  -%c, --%s%s%s", t->flag, t->name,
			     t->arg ? " " : "", t->arg ? t->arg : "");
	else
		n = snprintf(head, sizeof head, "      --%s%s%s", t->name, t->arg ? " " : "",
			     t->arg ? t->arg : "");
	fprintf(fp, "%s%*s", head, n < column ? column - n : 1, "");
	while ((nl = strchr(h, '\n')) != NULL) {
		fprintf(fp, "%.*s\n%*s", (int)(nl - h), h, column, "");
		h = nl + 1;
	}
	fprintf(fp, "%s\n", h);
}

/* Prints the entries of t with a help whose sub is in mask (0: those of sub 0). */
static void put_entries(FILE *fp, const struct sb_cmd_opt *t, unsigned mask, int column)
{
	for (; t->name; t++)
		if (t->help && (mask ? (t->sub & mask) != 0 : t->sub == 0))
			put_entry(fp, t, column);
}

void sb_cmd_usage(FILE *fp, const char *prog, const struct sb_cmd_usage *u,
		  const struct sb_cmd_opt *t)
{
	const char *syn = u->synopsis, *nl;

	fputs("usage: ", fp);
	while ((nl = strchr(syn, '\n')) != NULL) {
		fprintf(fp, "%s %.*s\n       ", prog, (int)(nl - syn), syn);
		syn = nl + 1;
	}
	fprintf(fp, "%s %s\n%s\n", prog, syn, u->about);
	if (!u->subs) {
		for (; t->name; t++)
			if (t->help)
				put_entry(fp, t, u->column);
	}
	for (size_t k = 0; u->subs && u->subs[k]; k++) {
		fprintf(fp, "%s:\n", u->subs[k]);
		put_entries(fp, t, u->subs[k + 1] ? 1u << k : 0, u->column);
	}
	fputs(u->common ? u->common : SB_CMD_COMMON_HELP, fp);
}

/* 1 when longopts[0..n) has an option of that name. */
static int has_long(size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(longopts[i].name, name))
			return 1;
	return 0;
}

/* The getopt_long() arrays: the common options, then the table's, each name and letter
 * once (a table lists an option once per subcommand that takes it). */
static void build(const struct sb_cmd_opt *t)
{
	static const struct option common[] = { SB_CMD_LONGOPTS };
	size_t n = sizeof(common) / sizeof(common[0]);
	char *s = shortopts;

	memcpy(longopts, common, sizeof common);
	s += sprintf(s, "%s", SB_CMD_SHORTOPTS);
	for (size_t k = 0; t[k].name; k++) {
		if (k >= MAX_OPTS) {
			fprintf(stderr, "sb: more than %d options in a table\n", MAX_OPTS);
			abort();
		}
		if (t[k].kind == SB_CMD_COMMON)
			continue;
		if (!has_long(n, t[k].name)) {
			longopts[n].name = t[k].name;
			longopts[n].has_arg = t[k].arg ? required_argument : no_argument;
			longopts[n].flag = NULL;
			longopts[n].val = t[k].flag ? t[k].flag : OPT_BASE + (int)k;
			n++;
		}
		if (t[k].flag && !strchr(shortopts, t[k].flag))
			s += sprintf(s, "%c%s", t[k].flag, t[k].arg ? ":" : "");
	}
	memset(&longopts[n], 0, sizeof longopts[0]);
}

/*
 * The entry of t that getopt's val stands for in subcommand sub (0: any), or NULL;
 * *other: an entry of that name or letter that only other subcommands take, or NULL.
 */
static const struct sb_cmd_opt *entry(const struct sb_cmd_opt *t, int val, unsigned sub,
				      const struct sb_cmd_opt **other)
{
	const char *name = NULL;
	size_t n = 0;

	while (t[n].name)
		n++;
	if (val >= OPT_BASE && val < OPT_BASE + (int)n)
		name = t[val - OPT_BASE].name;
	*other = NULL;
	for (size_t k = 0; k < n; k++) {
		if (name ? strcmp(t[k].name, name) != 0 : t[k].flag != val)
			continue;
		if (!sub || !t[k].sub || (t[k].sub & sub))
			return &t[k];
		if (!*other)
			*other = &t[k];
	}
	return NULL;
}

/* 1 when arg is one of the '|'-separated words. */
static int one_of(const char *words, const char *arg)
{
	size_t n = strlen(arg);

	for (const char *w = words; w && *w;) {
		const char *end = strchr(w, '|');
		size_t k = end ? (size_t)(end - w) : strlen(w);

		if (k == n && strncmp(w, arg, n) == 0)
			return 1;
		w = end ? end + 1 : NULL;
	}
	return 0;
}

/* Checks and takes the value of o: 0 to go on, else the exit status. */
static int take(struct sb_cmd *c, const struct sb_cmd_opt *o, const char *arg,
		sb_cmd_own_fn own, void *user)
{
	size_t n = 0;
	int bad = 0;

	if (o->kind == SB_CMD_COUNT)
		bad = sb_cmd_parse_size(arg, &n) || n < o->lo || n > o->hi;
	else if (o->kind == SB_CMD_CHOICE)
		bad = !one_of(o->value, arg);
	if (bad) {
		fprintf(stderr, "%s: --%s: ", c->prog, o->name);
		put_message(stderr, o->bad, arg);
		fputc('\n', stderr);
		return 2;
	}
	if (o->kind == SB_CMD_OWN || (o->kind == SB_CMD_COUNT && !o->key))
		return own ? own(c, user, o, arg, n) : 0;
	if (o->kind == SB_CMD_COUNT) {
		if (n_numbers >= SB_CMD_MAX_KV)
			return 2;
		snprintf(numbers[n_numbers], sizeof numbers[0], "%zu", n);
		arg = numbers[n_numbers++];
	}
	sb_cmd_kv(c, o->key, o->kind == SB_CMD_SWITCH ? o->value : arg);
	return 0;
}

/* The name of the first subcommand of mask, from the usage's list. */
static const char *sub_name(const struct sb_cmd_usage *u, unsigned mask)
{
	size_t k = 0;

	while (u->subs[k + 1] && !(mask & (1u << k)))
		k++;
	return u->subs[k];
}

int sb_cmd_getopts(struct sb_cmd *c, int argc, char **argv, const struct sb_cmd_usage *u,
		   const struct sb_cmd_opt *t, sb_cmd_own_fn own, void *user)
{
	const struct sb_cmd_opt *o, *other;
	int opt, rc;

	build(t);
	last_usage = u;
	last_table = t;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		o = entry(t, opt, c->sub, &other);
		if (o && o->kind != SB_CMD_COMMON) {
			if ((rc = take(c, o, optarg, own, user)))
				return rc;
			continue;
		}
		rc = sb_cmd_option(c, opt, optarg);
		if (rc < 0)
			return 2;
		if (rc)
			continue;
		if (opt == 'h') {
			sb_cmd_usage(stdout, c->prog, u, t);
			return 0;
		}
		if (other) {
			fprintf(stderr, "%s: --%s: an option of %s %s\n", c->prog, other->name,
				c->prog, sub_name(u, other->sub));
			return 2;
		}
		sb_cmd_usage(stderr, c->prog, u, t);
		return 2;
	}
	return -1;
}

int sb_cmd_parse(struct sb_cmd *c, int argc, char **argv, const struct sb_cmd_usage *u,
		 const struct sb_cmd_opt *t, sb_cmd_own_fn own, void *user)
{
	int rc = sb_cmd_getopts(c, argc, argv, u, t, own, user);

	if (rc >= 0)
		return rc;
	return sb_cmd_args(c, argc - optind, argv + optind, longopts, 1) ? 2 : -1;
}

int sb_cmd_usage_error(const struct sb_cmd *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", c->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	sb_cmd_usage(stderr, c->prog, last_usage, last_table);
	return 2;
}
