/*
 * opts.c - getopt_long() arrays, usage text and value checks made from a stage
 * program's table of options (opts.h).
 */
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

void sb_cmd_usage(FILE *fp, const char *prog, const struct sb_cmd_usage *u,
		  const struct sb_cmd_opt *t)
{
	fprintf(fp, "usage: %s %s\n%s\n", prog, u->synopsis, u->about);
	for (; t->name; t++) {
		char head[96];
		const char *h = t->help, *nl;
		int n;

		if (!h)
			continue;
		if (t->flag)
			n = snprintf(head, sizeof head, "  -%c, --%s%s%s", t->flag, t->name,
				     t->arg ? " " : "", t->arg ? t->arg : "");
		else
			n = snprintf(head, sizeof head, "      --%s%s%s", t->name,
				     t->arg ? " " : "", t->arg ? t->arg : "");
		fprintf(fp, "%s%*s", head, n < u->column ? u->column - n : 1, "");
		while ((nl = strchr(h, '\n')) != NULL) {
			fprintf(fp, "%.*s\n%*s", (int)(nl - h), h, u->column, "");
			h = nl + 1;
		}
		fprintf(fp, "%s\n", h);
	}
	fputs(SB_CMD_COMMON_HELP, fp);
}

/* The getopt_long() arrays: the common options, then the table's. */
static void build(const struct sb_cmd_opt *t)
{
	static const struct option common[] = { SB_CMD_LONGOPTS };
	size_t n = sizeof(common) / sizeof(common[0]), k = 0;
	char *s = shortopts;

	memcpy(longopts, common, sizeof common);
	s += sprintf(s, "%s", SB_CMD_SHORTOPTS);
	for (; t[k].name; k++) {
		if (k >= MAX_OPTS) {
			fprintf(stderr, "sb: more than %d options in a table\n", MAX_OPTS);
			abort();
		}
		longopts[n + k].name = t[k].name;
		longopts[n + k].has_arg = t[k].arg ? required_argument : no_argument;
		longopts[n + k].flag = NULL;
		longopts[n + k].val = t[k].flag ? t[k].flag : OPT_BASE + (int)k;
		if (t[k].flag)
			s += sprintf(s, "%c%s", t[k].flag, t[k].arg ? ":" : "");
	}
	memset(&longopts[n + k], 0, sizeof longopts[0]);
}

static const struct sb_cmd_opt *entry(const struct sb_cmd_opt *t, int val)
{
	for (size_t k = 0; t[k].name; k++)
		if (t[k].flag ? t[k].flag == val : OPT_BASE + (int)k == val)
			return &t[k];
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

int sb_cmd_getopts(struct sb_cmd *c, int argc, char **argv, const struct sb_cmd_usage *u,
		   const struct sb_cmd_opt *t, sb_cmd_own_fn own, void *user)
{
	const struct sb_cmd_opt *o;
	int opt, rc;

	build(t);
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		rc = sb_cmd_option(c, opt, optarg);
		if (rc < 0)
			return 2;
		if (rc)
			continue;
		if (opt == 'h') {
			sb_cmd_usage(stdout, c->prog, u, t);
			return 0;
		}
		o = entry(t, opt);
		if (!o) {
			sb_cmd_usage(stderr, c->prog, u, t);
			return 2;
		}
		if ((rc = take(c, o, optarg, own, user)))
			return rc;
	}
	return -1;
}
