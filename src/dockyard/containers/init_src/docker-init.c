/* dockyard's docker-init: a tiny PID 1 for `docker run --init`.
 *
 * Runs argv[1..] (after an optional "--") as a child, forwards the signals it receives to
 * it, reaps every zombie, and exits with the child's status (128+N for a signal), as tini
 * does. Built statically so it runs in any image.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    sigset_t all, old;
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--") == 0) first = 2;
    if (first >= argc) {
        fprintf(stderr, "docker-init: usage: docker-init [--] program [args...]\n");
        return 1;
    }
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t child = fork();
    if (child < 0) {
        perror("docker-init: fork");
        return 1;
    }
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        setpgid(0, 0);
        execvp(argv[first], &argv[first]);
        fprintf(stderr, "docker-init: exec %s failed: %s\n", argv[first], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    for (;;) {
        siginfo_t info;
        struct timespec tick = {1, 0};
        int sig = sigtimedwait(&all, &info, &tick);
        if (sig > 0 && sig != SIGCHLD) kill(child, sig);
        for (;;) {
            int status;
            pid_t pid = waitpid(-1, &status, WNOHANG);
            if (pid <= 0) break;
            if (pid == child) {
                if (WIFEXITED(status)) return WEXITSTATUS(status);
                if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
            }
        }
    }
}
