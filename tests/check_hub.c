/*
 * check_hub.c - unit tests for lib/hub.c: ids, the environment, cache lookups, and
 * the HTTP client against a canned server forked on 127.0.0.1 (malformed responses,
 * redirect loops, limits).  Downloads that work are covered by tests/40-hub.sh.
 */
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hub.h"
#include "hub_cache.h"

#define COMMIT "0123456789abcdef0123456789abcdef01234567"

static char tmpdir[] = "/tmp/check_hub_XXXXXX";

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(tmpdir, "/tmp/check_hub_XXXXXX");
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_ids)
{
	ck_assert(sb_hub_is_id("sentence-transformers/stsb-distilbert-base"));
	ck_assert(sb_hub_is_id("bert-base-uncased"));
	ck_assert(sb_hub_is_id("org_1/name.v2"));
	ck_assert(!sb_hub_is_id(""));
	ck_assert(!sb_hub_is_id(NULL));
	ck_assert(!sb_hub_is_id("/abs/path"));
	ck_assert(!sb_hub_is_id("a/b/c"));
	ck_assert(!sb_hub_is_id("org/"));
	ck_assert(!sb_hub_is_id("./model"));
	ck_assert(!sb_hub_is_id("../model"));
	ck_assert(!sb_hub_is_id("org--x/name"));
	ck_assert(!sb_hub_is_id("org/na..me"));
	ck_assert(!sb_hub_is_id("-org/name"));
	ck_assert(!sb_hub_is_id("org/name."));
	ck_assert(!sb_hub_is_id("org/na me"));
	ck_assert(!sb_hub_is_id("org/name\n"));
	{
		char id[200];

		memset(id, 'a', 96);
		id[96] = '\0';
		ck_assert(sb_hub_is_id(id));
		id[96] = 'a';
		id[97] = '\0';
		ck_assert(!sb_hub_is_id(id));
	}
}
END_TEST

static const char *fake[][2] = {
	{ "HF_HOME", "/h" }, { "HOME", "/home/u" }, { "HF_ENDPOINT", "http://e" },
	{ "HF_TOKEN", "tok" }, { "HF_HUB_OFFLINE", "TRUE" }, { NULL, NULL },
};

static char *fake_get(const char *name)
{
	for (int k = 0; fake[k][0]; k++)
		if (strcmp(fake[k][0], name) == 0)
			return (char *)fake[k][1];
	return NULL;
}

START_TEST(test_env)
{
	struct sb_hub_env env;
	struct sb_error err = { 0 };
	char *dir;

	sb_hub_env_from(&env, fake_get);
	ck_assert_str_eq(env.hf_home, "/h");
	ck_assert_str_eq(env.endpoint, "http://e");
	ck_assert_str_eq(env.token, "tok");
	ck_assert_ptr_null(env.hf_hub_cache);
	ck_assert_int_eq(env.offline, 1);
	ck_assert_int_eq(sb_hub_cache_dir(&env, &dir, &err), SB_OK);
	ck_assert_str_eq(dir, "/h/hub");
	free(dir);
	env.hf_hub_cache = "/c";
	ck_assert_int_eq(sb_hub_cache_dir(&env, &dir, &err), SB_OK);
	ck_assert_str_eq(dir, "/c");
	free(dir);
	env.hf_hub_cache = "";
	env.hf_home = NULL;
	env.xdg_cache_home = "/x";
	ck_assert_int_eq(sb_hub_cache_dir(&env, &dir, &err), SB_OK);
	ck_assert_str_eq(dir, "/x/huggingface/hub");
	free(dir);
	env.xdg_cache_home = NULL;
	ck_assert_int_eq(sb_hub_cache_dir(&env, &dir, &err), SB_OK);
	ck_assert_str_eq(dir, "/home/u/.cache/huggingface/hub");
	free(dir);
	env.home = NULL;
	ck_assert_int_eq(sb_hub_cache_dir(&env, &dir, &err), SB_ENOTFOUND);
	ck_assert_ptr_null(dir);
	ck_assert_msg(strstr(err.msg, "HF_HOME"), "%s", err.msg);
}
END_TEST

/* Builds CACHE/models--org--m with refs/main and a snapshot holding 'files'. */
static void make_cache(const char *const *files)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/hub/models--org--m/refs", tmpdir);
	ck_assert_int_eq(system("true"), 0);
	{
		char cmd[1024];

		snprintf(cmd, sizeof(cmd),
			 "mkdir -p '%s' '%s/hub/models--org--m/snapshots/%s/1_Pooling'", p, tmpdir,
			 COMMIT);
		ck_assert_int_eq(system(cmd), 0);
	}
	snprintf(p, sizeof(p), "%s/hub/models--org--m/refs/main", tmpdir);
	write_file(p, COMMIT "\n");
	for (int k = 0; files[k]; k++) {
		snprintf(p, sizeof(p), "%s/hub/models--org--m/snapshots/%s/%s", tmpdir, COMMIT,
			 files[k]);
		write_file(p, "{}");
	}
}

static void env_for(struct sb_hub_env *env, const char *endpoint)
{
	static char cache[256];

	memset(env, 0, sizeof(*env));
	snprintf(cache, sizeof(cache), "%s/hub", tmpdir);
	env->hf_hub_cache = cache;
	env->endpoint = endpoint;
	env->timeout_s = 5;
	env->attempts = 1;
}

/* Blob names: the ETag when it is a safe file name, else a stable hash. */
START_TEST(test_blob_names)
{
	const char *c = "0123456789abcdef0123456789abcdef01234567";
	char *n;

	/* The published FNV-1a 64 test vector. */
	ck_assert_uint_eq(sb_fnv1a64(SB_FNV1A64_INIT, "a", 1), 0xaf63dc4c8601ec8cULL);
	n = sb_hub_blob_name("W/\"abc-1.x\"", c, "config.json");
	ck_assert_str_eq(n, "abc-1.x");
	free(n);
	n = sb_hub_blob_name("\"../x\"", c, "config.json");
	ck_assert_str_eq(n, "noetag-aad1f408adf6aa54");   /* FNV-1a 64 of "C/config.json" */
	free(n);
	n = sb_hub_blob_name("", c, "config.json");
	ck_assert_str_eq(n, "noetag-aad1f408adf6aa54");
	free(n);
	ck_assert(sb_hub_safe_path("refs/pr/1"));
	ck_assert(sb_hub_safe_path("2_Dense"));
	ck_assert(!sb_hub_safe_path("../2_Dense"));
	ck_assert(!sb_hub_safe_path("2_Dense/"));
	ck_assert(!sb_hub_safe_path("a//b"));
	ck_assert(!sb_hub_safe_path("a b"));
}
END_TEST

START_TEST(test_resolve_local_and_cache)
{
	static const char *const complete[] = { "config.json", "vocab.txt", "model.safetensors",
						NULL };
	struct sb_hub_env env;
	struct sb_error err = { 0 };
	char *dir = NULL, want[512];

	env_for(&env, "http://127.0.0.1:9");
	/* A folder wins, whatever its name looks like. */
	ck_assert_int_eq(sb_hub_resolve(tmpdir, &env, &dir, &err), SB_OK);
	ck_assert_str_eq(dir, tmpdir);
	free(dir);
	ck_assert_int_eq(sb_hub_resolve("", &env, &dir, &err), SB_EINVAL);
	/* An existing file is not taken for a hub id, even when it has the shape of one. */
	ck_assert_int_eq(chdir(tmpdir), 0);
	write_file("model.bin", "x");
	ck_assert_int_eq(sb_hub_resolve("model.bin", &env, &dir, &err), SB_EINVAL);
	ck_assert_str_eq(err.msg, "model.bin: not a model folder");
	ck_assert_int_eq(chdir("/"), 0);
	ck_assert_int_eq(sb_hub_resolve("/no/such/dir", &env, &dir, &err), SB_ENOTFOUND);
	ck_assert_ptr_null(dir);
	ck_assert_msg(strstr(err.msg, "not a hub id"), "%s", err.msg);

	make_cache(complete);
	snprintf(want, sizeof(want), "%s/hub/models--org--m/snapshots/%s", tmpdir, COMMIT);
	/* Complete snapshot: no network (the endpoint is a closed port). */
	ck_assert_int_eq(sb_hub_resolve("org/m", &env, &dir, &err), SB_OK);
	ck_assert_str_eq(dir, want);
	free(dir);
	env.revision = COMMIT;
	ck_assert_int_eq(sb_hub_resolve("org/m", &env, &dir, &err), SB_OK);
	ck_assert_str_eq(dir, want);
	free(dir);
	/* Revisions that could escape the cache are refused. */
	env.revision = "../../etc";
	ck_assert_int_eq(sb_hub_resolve("org/m", &env, &dir, &err), SB_EINVAL);
	ck_assert_msg(strstr(err.msg, "bad revision"), "%s", err.msg);
	env.revision = "v1";
	env.offline = 1;
	ck_assert_int_eq(sb_hub_resolve("org/m", &env, &dir, &err), SB_ENOTFOUND);
	ck_assert_msg(strstr(err.msg, "HF_HUB_OFFLINE"), "%s", err.msg);
	env.revision = NULL;
	env.token = "a\r\nX-Evil: 1";
	env.offline = 0;
	ck_assert_int_eq(sb_hub_resolve("org/other", &env, &dir, &err), SB_EINVAL);
	ck_assert_msg(strstr(err.msg, "control characters"), "%s", err.msg);
	env.token = NULL;
	/* An unreachable endpoint for a model that is not cached. */
	ck_assert_int_eq(sb_hub_resolve("org/other", &env, &dir, &err), SB_EIO);
	ck_assert_msg(strstr(err.msg, "cannot connect to 127.0.0.1 port 9"), "%s", err.msg);
	env.endpoint = "ftp://x";
	ck_assert_int_eq(sb_hub_resolve("org/other", &env, &dir, &err), SB_EINVAL);
	ck_assert_msg(strstr(err.msg, "HF_ENDPOINT"), "%s", err.msg);
}
END_TEST

START_TEST(test_resolve_partial_offline)
{
	static const char *const partial[] = { "config.json", NULL };
	struct sb_hub_env env;
	struct sb_error err = { 0 };
	char *dir = NULL, p[512];

	env_for(&env, "http://127.0.0.1:9");
	make_cache(partial);
	/* Offline, a partial snapshot is returned as is: the loader names what lacks. */
	env.offline = 1;
	ck_assert_int_eq(sb_hub_resolve("org/m", &env, &dir, &err), SB_OK);
	free(dir);
	/* Online, it is completed: here the endpoint is down. */
	env.offline = 0;
	ck_assert_int_eq(sb_hub_resolve("org/m", &env, &dir, &err), SB_EIO);
	ck_assert_ptr_null(dir);
	/* A ref that is not a hash-like name is refused. */
	snprintf(p, sizeof(p), "%s/hub/models--org--m/refs/main", tmpdir);
	write_file(p, "../../x");
	ck_assert_int_eq(sb_hub_resolve("org/m", &env, &dir, &err), SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "not a commit hash"), "%s", err.msg);
}
END_TEST

/*
 * A canned server: answers every connection with 'reply' (after reading the request
 * head), then closes.  Returns the child's pid; the port goes to *port.
 */
static pid_t canned(const char *reply, size_t len, int *port)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	pid_t pid;

	ck_assert_int_ge(s, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(s, 8), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		for (;;) {
			char buf[4096];
			size_t got = 0;
			int c = accept(s, NULL, NULL);

			if (c < 0)
				_exit(0);
			while (got < sizeof(buf) - 1) {
				ssize_t n = recv(c, buf + got, sizeof(buf) - 1 - got, 0);

				if (n <= 0)
					break;
				got += (size_t)n;
				buf[got] = '\0';
				if (strstr(buf, "\r\n\r\n"))
					break;
			}
			for (size_t off = 0; off < len;) {
				ssize_t n = send(c, reply + off, len - off, MSG_NOSIGNAL);

				if (n <= 0)
					break;
				off += (size_t)n;
			}
			close(c);
		}
	}
	close(s);
	return pid;
}

static void stop(pid_t pid)
{
	kill(pid, SIGKILL);     /* Check's SIGTERM handler would kill our process group */
	waitpid(pid, NULL, 0);
}

/* Resolves org/x against a canned reply; returns the status, message in err. */
static int against(const char *reply, size_t len, struct sb_error *err)
{
	struct sb_hub_env env;
	char ep[64], *dir = NULL;
	int port, rc;
	pid_t pid = canned(reply, len, &port);

	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
	env_for(&env, ep);
	rc = sb_hub_resolve("org/x", &env, &dir, err);
	stop(pid);
	ck_assert_ptr_null(dir);
	return rc;
}

static int against_s(const char *reply, struct sb_error *err)
{
	return against(reply, strlen(reply), err);
}

START_TEST(test_http_errors)
{
	struct sb_error err = { 0 };
	char *big;

	ck_assert_int_eq(against_s("SSH-2.0-OpenSSH\r\n\r\n", &err), SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "not an http response"), "%s", err.msg);
	ck_assert_int_eq(against_s("HTTP/1.1 2x0 OK\r\n\r\n", &err), SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "bad status line"), "%s", err.msg);
	ck_assert_int_eq(against_s("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", &err),
			 SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "bad content-length"), "%s", err.msg);
	ck_assert_int_eq(against_s("HTTP/1.1 200 OK\r\n"
				   "Content-Length: 99999999999999999999\r\n\r\n", &err),
			 SB_EFORMAT);
	ck_assert_int_eq(against_s("HTTP/1.1 200 OK\r\nContent-Le", &err), SB_ETRUNCATED);
	ck_assert_msg(strstr(err.msg, "closed in the headers"), "%s", err.msg);
	ck_assert_int_eq(against_s("", &err), SB_ETRUNCATED);
	ck_assert_int_eq(against_s("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", &err), SB_EIO);
	ck_assert_msg(strstr(err.msg, "org/x: no such folder, and not in the Hugging Face cache "),
		      "%s", err.msg);
	ck_assert_msg(strstr(err.msg, "; from the hub: config.json: http status 500"), "%s",
		      err.msg);
	ck_assert_int_eq(against_s("HTTP/1.1 404 No\r\nContent-Length: 0\r\n\r\n", &err),
			 SB_ENOTFOUND);
	ck_assert_msg(strstr(err.msg, "config.json: not found on http://127.0.0.1:"), "%s",
		      err.msg);
	/* Redirect to itself, forever. */
	ck_assert_int_eq(against_s("HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0"
				   "\r\n\r\n", &err), SB_EIO);
	ck_assert_msg(strstr(err.msg, "more than 5 redirects"), "%s", err.msg);
	/* A header line longer than the limit. */
	big = malloc(20000);
	ck_assert_ptr_nonnull(big);
	strcpy(big, "HTTP/1.1 200 OK\r\nX-Big: ");
	memset(big + strlen(big), 'a', 15000);
	strcpy(big + strlen("HTTP/1.1 200 OK\r\nX-Big: ") + 15000, "\r\n\r\n");
	ck_assert_int_eq(against_s(big, &err), SB_ELIMIT);
	ck_assert_msg(strstr(err.msg, "header line over"), "%s", err.msg);
	free(big);
	/* NUL inside a header. */
	ck_assert_int_eq(against("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", 27, &err), SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "NUL byte"), "%s", err.msg);
	/* The body is shorter than announced (HEAD passes, GET is cut, one attempt). */
	ck_assert_int_eq(against_s("HTTP/1.1 200 OK\r\nX-Repo-Commit: " COMMIT
				   "\r\nETag: \"e1\"\r\nContent-Length: 10\r\n\r\n{}", &err),
			 SB_ETRUNCATED);
	ck_assert_msg(strstr(err.msg, "config.json: connection closed after 2 of 10 bytes"), "%s",
		      err.msg);
	/* A malformed chunked body. */
	ck_assert_int_eq(against_s("HTTP/1.1 200 OK\r\nX-Repo-Commit: " COMMIT
				   "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", &err),
			 SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "bad chunk size line"), "%s", err.msg);
	ck_assert_int_eq(against_s("HTTP/1.1 200 OK\r\nX-Repo-Commit: " COMMIT
				   "\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
				   &err), SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "chunk size too large"), "%s", err.msg);
	ck_assert_int_eq(against_s("HTTP/1.1 200 OK\r\nX-Repo-Commit: " COMMIT
				   "\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "2\r\n{}XX\r\n0\r\n\r\n", &err),
			 SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "no CRLF after a chunk"), "%s", err.msg);
	/* A commit that would escape the cache folder. */
	ck_assert_int_eq(against_s("HTTP/1.1 200 OK\r\nX-Repo-Commit: ../../x\r\n"
				   "Content-Length: 2\r\n\r\n{}", &err), SB_EFORMAT);
	ck_assert_msg(strstr(err.msg, "bad revision"), "%s", err.msg);
}
END_TEST

START_TEST(test_http_chunked_ok_then_missing)
{
	/* Every file answers the same chunked '{}' with a good commit: all files are
	 * fetched (the weights too), and the blob names come from a safe fallback since
	 * the ETag is not a safe file name. */
	struct sb_hub_env env;
	struct sb_error err = { 0 };
	const char *reply = "HTTP/1.1 200 OK\r\nX-Repo-Commit: " COMMIT "\r\nETag: \"../x\"\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n1;e=1\r\n{\r\n1\r\n}\r\n0\r\n\r\n";
	char ep[64], *dir = NULL, want[512], p[600];
	int port;
	pid_t pid = canned(reply, strlen(reply), &port);
	struct stat st;

	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
	env_for(&env, ep);
	ck_assert_int_eq(sb_hub_resolve("org/x", &env, &dir, &err), SB_OK);
	stop(pid);
	snprintf(want, sizeof(want), "%s/hub/models--org--x/snapshots/%s", tmpdir, COMMIT);
	ck_assert_str_eq(dir, want);
	snprintf(p, sizeof(p), "%s/1_Pooling/config.json", dir);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_size, 2);
	free(dir);
	/* Now cached: resolves without the server. */
	ck_assert_int_eq(sb_hub_resolve("org/x", &env, &dir, &err), SB_OK);
	ck_assert_str_eq(dir, want);
	free(dir);
}
END_TEST

static Suite *hub_suite(void)
{
	Suite *s = suite_create("hub");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ids);
	tcase_add_test(tc, test_env);
	tcase_add_test(tc, test_blob_names);
	tcase_add_test(tc, test_resolve_local_and_cache);
	tcase_add_test(tc, test_resolve_partial_offline);
	tcase_add_test(tc, test_http_errors);
	tcase_add_test(tc, test_http_chunked_ok_then_missing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hub_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
