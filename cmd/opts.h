/*
 * opts.h - a stage program's options, each declared once in a table (name, short flag,
 * argument, kind, bounds, the stage option it sets, help), from which the program's
 * getopt_long() arrays, its usage text and the checks of the values are made.
 *
 *     static const struct sb_cmd_opt opts[] = {
 *         { "batch", 'b', "N", SB_CMD_COUNT, "batch", NULL, 1, 1000000,
 *           "'{}' is not a number from 1 to 1000000", "rows per frame (default 32)", 0 },
 *         ...
 *         { NULL }
 *     };
 *
 * The common options (-i, -o, -v, --worker ...: common.h) come with every table.
 *
 * A program with subcommands (sb-index build, sb-index query) names them in its usage
 * (subs) and marks each entry with the subcommands that take it (sub, a bit each: 1 << k
 * for subs[k]; 0: all of them).  An option may then appear once per subcommand with its
 * own help and handling (sb-index build -o FILE, query -o SPEC); an option of another
 * subcommand is refused by name.
 */
#ifndef SB_CMD_OPTS_H
#define SB_CMD_OPTS_H

#include <stddef.h>
#include <stdio.h>

#include "common.h"

enum sb_cmd_kind {
	SB_CMD_SWITCH,          /* no argument: key=value */
	SB_CMD_STRING,          /* key=ARG */
	SB_CMD_COUNT,           /* a count in [lo, hi] (k, M, G suffixes): key=the count */
	SB_CMD_CHOICE,          /* one of the '|'-separated words of value: key=ARG */
	SB_CMD_OWN,             /* the program's handler takes it (after the checks) */
	SB_CMD_COMMON           /* a common option (common.h), listed to show it in this
				 * table's usage with this help; handled as usual */
};

struct sb_cmd_opt {
	const char *name;       /* long name, without the dashes */
	int flag;               /* short letter, or 0 */
	const char *arg;        /* the argument's name in the usage; NULL: a switch */
	enum sb_cmd_kind kind;
	const char *key;        /* the stage option it sets; NULL: none (SB_CMD_OWN, or
				 * a COUNT the handler takes) */
	const char *value;      /* SWITCH: the value of key; CHOICE: the words */
	size_t lo, hi;          /* COUNT: the bounds */
	const char *bad;        /* COUNT, CHOICE: the message for a bad value, after
				 * "PROG: --NAME: ", '{}' standing for the value */
	const char *help;       /* its lines in the usage ('\n' between them); NULL:
				 * not shown */
	unsigned sub;           /* the subcommands that take it (1 << k for subs[k] of
				 * the usage); 0: every one */
};

/* A program's usage text: its synopsis, what it does, its table's help column. */
struct sb_cmd_usage {
	const char *synopsis;   /* after "usage: PROG "; each further line ('\n' between
				 * them) is printed under the first, after PROG again */
	const char *about;      /* lines after the synopsis, each ending with '\n' */
	int column;             /* where the help of each option starts */
	/* Programs with subcommands: their names, then the title of the options every
	 * one takes, then NULL ({ "build", "query", "both", NULL }); NULL: none. */
	const char *const *subs;
	/* The common options' help after the table's; NULL: SB_CMD_COMMON_HELP.  A
	 * table that lists the common options it shows (SB_CMD_COMMON) gives "". */
	const char *common;
};

/*
 * Prints the usage: "usage: PROG SYNOPSIS", about, a blank line, each option of t
 * with its help at the column (continuation lines too), then the common options.
 * With subcommands, the options come in sections, "NAME:" then the options of
 * subcommand NAME, each in table order, the options of all of them last.
 */
void sb_cmd_usage(FILE *fp, const char *prog, const struct sb_cmd_usage *u,
		  const struct sb_cmd_opt *t);

/*
 * The value of option o after its checks, handed to the program's handler: the
 * argument (NULL for a switch) and, for a COUNT, the number.  The handler returns 0
 * to go on, else the exit status.
 */
typedef int (*sb_cmd_own_fn)(struct sb_cmd *c, void *user, const struct sb_cmd_opt *o,
			     const char *arg, size_t n);

/*
 * The getopt_long() loop of a stage program over the common options and table t:
 * values are checked (COUNT bounds, CHOICE words; "PROG: --NAME: " and the entry's
 * message, exit 2), stage options set, and own (may be NULL) called for every entry
 * of kind SB_CMD_OWN and for a COUNT without a key.  -h prints the usage on stdout
 * (exit 0), an unknown option the usage on stderr (exit 2).  The arrays built for
 * getopt also name the program's options in stage messages (sb_cmd_error).  Returns
 * -1 when every option was taken, else the exit status.
 *
 * With subcommands, c->sub is the bit of the one being parsed and argv holds the
 * arguments after it, argv[0] the program (getopt's own messages name argv[0]).  An
 * entry of that subcommand is taken before a common option of the same letter
 * (sb-index build's -o FILE); an option only other subcommands take is refused:
 * "PROG: --NAME: an option of PROG SUB", exit 2.
 */
int sb_cmd_getopts(struct sb_cmd *c, int argc, char **argv, const struct sb_cmd_usage *u,
		   const struct sb_cmd_opt *t, sb_cmd_own_fn own, void *user);

/*
 * The command line of a stage program that writes frames: sb_cmd_getopts(), then
 * sb_cmd_args() (--version, stray arguments refused, no frames to a terminal).  The
 * program then checks what its options need (-m MODEL...) with sb_cmd_usage_error().
 * Returns -1 to go on, else the exit status.
 */
int sb_cmd_parse(struct sb_cmd *c, int argc, char **argv, const struct sb_cmd_usage *u,
		 const struct sb_cmd_opt *t, sb_cmd_own_fn own, void *user);

/* A usage error found once the options are read: "PROG: " and the message, then the
 * usage of the last sb_cmd_getopts() on stderr.  Returns 2, the exit status. */
int sb_cmd_usage_error(const struct sb_cmd *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The long options sb_cmd_getopts() built (for sb_cmd_args()). */
const struct option *sb_cmd_longopts(void);

#endif
