/* The test image's one program; argv[1] picks its behaviour. Static, so a rootfs FROM scratch runs it. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

extern char **environ;

static void say(const char *line) {
    /* One write per line: the test reads the file while we run. */
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s\n", line);
    if (write(1, buf, (size_t)n) < 0) _exit(3);
}

static void on_term(int sig) {
    (void)sig;
    say("got SIGTERM");
    struct timespec t = {0, 200 * 1000 * 1000};
    nanosleep(&t, NULL);
    say("bye");
    _exit(0);
}

static void exit_now(int sig) {
    (void)sig;
    _exit(0);
}

static int serve(void) {
    /* As PID 1 of its namespace, SIGTERM would be ignored without a handler. */
    signal(SIGTERM, exit_now);
    char line[256];
    snprintf(line, sizeof line, "uid=%d gid=%d", (int)getuid(), (int)getgid());
    say(line);
    for (char **e = environ; *e; e++) {
        snprintf(line, sizeof line, "env %s", *e);
        say(line);
    }
    const char *port = getenv("PORT");
    if (!port) { say("no PORT"); return 2; }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) { perror("listen"); return 2; }
    say("listening");
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue;
        char req[1024];
        if (read(c, req, sizeof req) < 0) { close(c); continue; }
        const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        if (write(c, resp, strlen(resp)) < 0) { /* client gone */ }
        close(c);
    }
}

static int hog(long mib) {
    char line[64];
    for (long i = 0; i < mib; i++) {
        char *p = malloc(1 << 20);
        if (!p) { say("malloc failed"); return 4; }
        memset(p, 1, 1 << 20);
        if (i % 8 == 0) { snprintf(line, sizeof line, "allocated %ld MiB", i + 1); say(line); }
    }
    say("done");
    return 0;
}

static int try_write(const char *path) {
    char line[256];
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) { snprintf(line, sizeof line, "%s: %s", path, strerror(errno)); say(line); return 1; }
    if (write(fd, "x\n", 2) != 2) { snprintf(line, sizeof line, "%s: short write", path); say(line); }
    close(fd);
    snprintf(line, sizeof line, "%s: ok", path);
    say(line);
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "serve")) return serve();
    if (!strcmp(mode, "hog")) return hog(argc > 2 ? atol(argv[2]) : 64);
    if (!strcmp(mode, "spin")) { say("spinning"); for (volatile unsigned long i = 0;; i++) {} }
    if (!strcmp(mode, "term")) {
        signal(SIGTERM, on_term);
        say("ready");
        for (;;) pause();
    }
    if (!strcmp(mode, "ignore")) {
        signal(SIGTERM, SIG_IGN);
        say("ready");
        for (;;) pause();
    }
    if (!strcmp(mode, "write")) {
        try_write("/written-by-task");
        try_write("/tmp/scratch");
        say("ready");
        for (;;) pause();
    }
    if (!strcmp(mode, "exit")) return argc > 2 ? atoi(argv[2]) : 0;
    say("unknown mode");
    return 64;
}
